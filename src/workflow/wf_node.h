/*
 * The job file as a tree of nodes, each with the line and column it starts
 * at (1-based), so every error about a job names where it is. YAML 1.1
 * through libyaml (JSON is read as YAML's flow style); wf_yaml_none.c
 * stands in for builds without libyaml.
 */
#ifndef PIO_WF_NODE_H
#define PIO_WF_NODE_H

#include <stdbool.h>
#include <stddef.h>

enum wf_kind { WF_SCALAR, WF_MAP, WF_SEQ };

struct wf_node {
    enum wf_kind kind;
    unsigned line, col;
    char *text;  /* WF_SCALAR: its value (never NULL) */
    bool quoted; /* WF_SCALAR: written in quotes (then `true` is a string) */
    size_t n;    /* WF_MAP: pairs keys[i] -> vals[i]; WF_SEQ: vals[i] */
    struct wf_node **keys, **vals;
};

/* Whether this build parses job files (false: no libyaml). */
bool wf_parser_available(void);

/* Parse `path` into *out (freed with wf_node_free): 0; or -1 with
 * "FILE:LINE:COL: problem" in err (a file that cannot be read: no line).
 * Map keys are scalars, each once; aliases and several documents are
 * refused. An empty file is an empty map. */
int wf_parse(const char *path, struct wf_node **out, char *err, size_t errlen);
void wf_node_free(struct wf_node *n);

/* A map's value for `key`, or NULL. */
const struct wf_node *wf_get(const struct wf_node *map, const char *key);

#endif /* PIO_WF_NODE_H */
