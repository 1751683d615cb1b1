/*
 * formats: AMBER NetCDF in a build without libnetcdf (no libnetcdf-dev, or
 * -DPIO_WITH_NETCDF=OFF): the format stays in the registry, and opening it
 * says why it cannot be read or written (PIO_ENOTSUPPORTED).
 */
#include "formats/formats_internal.h"

#include "common/pio_common.h"

static int ncdf_none_source(struct pio_source *out, const char *path,
                            const struct pio_source_options *o, struct pio_error *err)
{
    (void)out;
    (void)o;
    return pio_error_set(err, PIO_ENOTSUPPORTED, "%s: this build has no NetCDF (libnetcdf-dev)",
                         path);
}

static int ncdf_none_sink(struct pio_sink *out, const char *path, const struct pio_sink_options *o,
                          struct pio_error *err)
{
    (void)out;
    (void)o;
    return pio_error_set(err, PIO_ENOTSUPPORTED, "%s: this build has no NetCDF (libnetcdf-dev)",
                         path);
}

const struct pio__format pio__format_ncdf = {
    .id = PIO_FORMAT_NCDF,
    .name = "ncdf",
    .extensions = NCDF_EXTENSIONS,
    .caps = NCDF_CAPS,
    .unavailable = "this build has no NetCDF (libnetcdf-dev)",
    .probe = ncdf_probe,
    .open_source = ncdf_none_source,
    .open_sink = ncdf_none_sink,
};
