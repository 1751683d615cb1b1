/*
 * The job file's tree (wf_node.h): what every parser and the job share.
 */
#include <stdlib.h>
#include <string.h>

#include "wf_node.h"

void wf_node_free(struct wf_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            wf_node_free(n->keys[i]);
        wf_node_free(n->vals[i]);
    }
    free(n->keys);
    free(n->vals);
    free(n->text);
    free(n);
}

const struct wf_node *wf_get(const struct wf_node *map, const char *key)
{
    if (!map || map->kind != WF_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->text, key) == 0)
            return map->vals[i];
    return NULL;
}
