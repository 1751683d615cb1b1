/*
 * prism-io: the whole public API. Include this, link -lprismio
 * (pkg-config --cflags --libs prismio).
 */
#ifndef PRISMIO_H
#define PRISMIO_H

#include "prismio/common.h"
#include "prismio/blake3.h"
#include "prismio/concurrent.h"
#include "prismio/io.h"
#include "prismio/holo.h"
#include "prismio/pipeline.h"
#include "prismio/convert.h"
#include "prismio/telemetry.h"
#include "prismio/arrow.h"
#include "prismio/dataset.h"
#include "prismio/mpi.h"

#endif /* PRISMIO_H */
