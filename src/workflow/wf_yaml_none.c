/*
 * Builds without libyaml: job files cannot be parsed (prismio run says so,
 * naming the package, and exits 69).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf_node.h"

bool wf_parser_available(void)
{
    return false;
}

int wf_parse(const char *path, struct wf_node **out, char *err, size_t errlen)
{
    *out = NULL;
    snprintf(err, errlen, "%s: this build has no YAML parser (install libyaml-dev and rebuild)",
             path);
    return -1;
}
