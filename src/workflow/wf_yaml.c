/*
 * Job files through libyaml's event parser into wf_node trees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "wf_node.h"

bool wf_parser_available(void)
{
    return true;
}

struct parse {
    yaml_parser_t p;
    const char *path;
    char *err;
    size_t errlen;
};

static struct wf_node *node_new(enum wf_kind k, const yaml_mark_t *m)
{
    struct wf_node *n = calloc(1, sizeof(*n));
    if (n) {
        n->kind = k;
        n->line = (unsigned)m->line + 1;
        n->col = (unsigned)m->column + 1;
    }
    return n;
}

static int fail_at(struct parse *ps, const yaml_mark_t *m, const char *what)
{
    snprintf(ps->err, ps->errlen, "%s:%u:%u: %s", ps->path, (unsigned)m->line + 1,
             (unsigned)m->column + 1, what);
    return -1;
}

static int next_event(struct parse *ps, yaml_event_t *ev)
{
    if (yaml_parser_parse(&ps->p, ev))
        return 0;
    char what[256];
    snprintf(what, sizeof(what), "%s%s%s", ps->p.problem ? ps->p.problem : "not YAML",
             ps->p.context ? " " : "", ps->p.context ? ps->p.context : "");
    return fail_at(ps, &ps->p.problem_mark, what);
}

static int push(struct wf_node *n, struct wf_node *key, struct wf_node *val)
{
    if ((n->n & (n->n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
        size_t cap = n->n ? n->n * 2 : 1;
        struct wf_node **v = realloc(n->vals, cap * sizeof(*v));
        if (!v)
            return -1;
        n->vals = v;
        if (n->kind == WF_MAP) {
            struct wf_node **k = realloc(n->keys, cap * sizeof(*k));
            if (!k)
                return -1;
            n->keys = k;
        }
    }
    if (n->kind == WF_MAP)
        n->keys[n->n] = key;
    n->vals[n->n++] = val;
    return 0;
}

/* The node starting with event *ev (consumed), into *out. */
static int parse_node(struct parse *ps, yaml_event_t *ev, struct wf_node **out, int depth)
{
    *out = NULL;
    if (depth > 64)
        return fail_at(ps, &ev->start_mark, "nested deeper than 64 levels");
    if (ev->type == YAML_ALIAS_EVENT)
        return fail_at(ps, &ev->start_mark, "aliases (*name) are not supported in a job");
    if (ev->type == YAML_SCALAR_EVENT) {
        struct wf_node *n = node_new(WF_SCALAR, &ev->start_mark);
        if (!n || !(n->text = malloc(ev->data.scalar.length + 1))) {
            wf_node_free(n);
            return fail_at(ps, &ev->start_mark, "out of memory");
        }
        memcpy(n->text, ev->data.scalar.value, ev->data.scalar.length);
        n->text[ev->data.scalar.length] = '\0';
        if (strlen(n->text) != ev->data.scalar.length) {
            wf_node_free(n);
            return fail_at(ps, &ev->start_mark, "a NUL character in a value");
        }
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        *out = n;
        return 0;
    }
    bool map = ev->type == YAML_MAPPING_START_EVENT;
    if (!map && ev->type != YAML_SEQUENCE_START_EVENT)
        return fail_at(ps, &ev->start_mark, "unexpected YAML event");
    struct wf_node *n = node_new(map ? WF_MAP : WF_SEQ, &ev->start_mark);
    if (!n)
        return fail_at(ps, &ev->start_mark, "out of memory");
    for (;;) {
        yaml_event_t e;
        if (next_event(ps, &e) != 0)
            goto fail;
        if (e.type == (map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT)) {
            yaml_event_delete(&e);
            break;
        }
        struct wf_node *key = NULL, *val = NULL;
        if (map) {
            if (e.type != YAML_SCALAR_EVENT) {
                fail_at(ps, &e.start_mark, "a key must be a plain name, not a list or map");
                yaml_event_delete(&e);
                goto fail;
            }
            int rc = parse_node(ps, &e, &key, depth + 1);
            yaml_event_delete(&e);
            if (rc != 0)
                goto fail;
            if (wf_get(n, key->text)) {
                char what[160];
                snprintf(what, sizeof(what), "'%.100s' is given twice", key->text);
                fail_at(ps, &(yaml_mark_t){0, key->line - 1, key->col - 1}, what);
                wf_node_free(key);
                goto fail;
            }
            if (next_event(ps, &e) != 0) {
                wf_node_free(key);
                goto fail;
            }
        }
        int rc = parse_node(ps, &e, &val, depth + 1);
        yaml_event_delete(&e);
        if (rc != 0 || push(n, key, val) != 0) {
            if (rc == 0)
                fail_at(ps, &(yaml_mark_t){0, val->line - 1, val->col - 1}, "out of memory");
            wf_node_free(key);
            wf_node_free(val);
            goto fail;
        }
    }
    *out = n;
    return 0;
fail:
    wf_node_free(n);
    return -1;
}

int wf_parse(const char *path, struct wf_node **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct parse ps = {.path = path, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&ps.p)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&ps.p, f);
    struct wf_node *root = NULL;
    int rc = 0;
    bool docs = false, stream_end = false;
    while (rc == 0 && !stream_end) {
        yaml_event_t ev;
        if ((rc = next_event(&ps, &ev)) != 0)
            break;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            stream_end = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (docs)
                rc = fail_at(&ps, &ev.start_mark, "a job file holds one document");
            docs = true;
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        default:
            rc = parse_node(&ps, &ev, &root, 0);
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&ps.p);
    if (ferror(f) && rc == 0) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    if (rc == 0 && !root) {
        root = node_new(WF_MAP, &(yaml_mark_t){0, 0, 0});
        if (!root) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = -1;
        }
    }
    if (rc != 0) {
        wf_node_free(root);
        return -1;
    }
    *out = root;
    return 0;
}
