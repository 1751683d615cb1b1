/*
 * prismio formats [FILE...]: the format registry as this build has it (name,
 * extensions, what each reads and writes, and why one is unavailable), or,
 * given files, the format each one's extension and magic bytes name.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
    uint32_t bit;
    const char *name;
} caps[] = {
    {PIO_FORMAT_CAN_READ, "read"},
    {PIO_FORMAT_CAN_WRITE, "write"},
    {PIO_FORMAT_HAS_TOPOLOGY, "topology"},
    {PIO_FORMAT_HAS_VELOCITIES, "velocities"},
    {PIO_FORMAT_HAS_FORCES, "forces"},
    {PIO_FORMAT_HAS_BOX, "box"},
    {PIO_FORMAT_RANDOM_ACCESS, "random-access"},
    {PIO_FORMAT_CHECKSUMS, "checksums"},
    {PIO_FORMAT_ZERO_COPY, "zero-copy"},
};

static void list(bool json)
{
    struct pio_format_info fi = PIO_FORMAT_INFO_INIT;
    if (json)
        printf("[");
    for (int f = 1; pio_format_info((enum pio_format)f, &fi) == 0; f++) {
        if (json) {
            printf("%s\n{\"name\":", f > 1 ? "," : "");
            cli_json_string(stdout, fi.name);
            printf(",\"extensions\":");
            cli_json_string(stdout, fi.extensions);
            printf(",\"caps\":[");
            int n = 0;
            for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
                if (fi.caps & caps[i].bit)
                    printf("%s\"%s\"", n++ ? "," : "", caps[i].name);
            printf("],\"available\":%s", fi.unavailable ? "false" : "true");
            if (fi.unavailable) {
                printf(",\"unavailable\":");
                cli_json_string(stdout, fi.unavailable);
            }
            printf("}");
            continue;
        }
        printf("%-6s %-16s", fi.name, fi.extensions);
        int n = 0;
        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
            if (fi.caps & caps[i].bit)
                printf("%s%s", n++ ? "," : "", caps[i].name);
        if (fi.unavailable)
            printf("  (unavailable: %s)", fi.unavailable);
        printf("\n");
    }
    if (json)
        printf("\n]\n");
}

/* FILE: its extension's format, and its magic bytes' (text formats have
 * none); 1 when they disagree or neither names a format. */
static int probe(const char *path, bool json, bool *first)
{
    unsigned char head[64];
    ssize_t n = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
        n = pread(fd, head, sizeof(head), 0);
        close(fd);
    }
    if (n < 0) {
        cli_err("formats", "%s: %s", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    enum pio_format ext = pio_format_from_path(path);
    enum pio_format magic = pio_format_probe(head, (size_t)n);
    bool ok = ext != PIO_FORMAT_UNKNOWN && (magic == PIO_FORMAT_UNKNOWN || magic == ext);
    ok = ok || (ext == PIO_FORMAT_UNKNOWN && magic != PIO_FORMAT_UNKNOWN);
    if (json) {
        printf("%s{\"file\":", *first ? "" : ",\n");
        *first = false;
        cli_json_string(stdout, path);
        printf(",\"extension\":\"%s\",\"magic\":\"%s\",\"consistent\":%s}", pio_format_name(ext),
               pio_format_name(magic), ok && !(ext && magic && ext != magic) ? "true" : "false");
    } else {
        printf("%s: extension %s, magic %s%s\n", path, pio_format_name(ext),
               magic ? pio_format_name(magic) : "none",
               ext && magic && ext != magic ? " (they disagree)" : "");
    }
    return ok ? EXIT_OK : EXIT_INTEGRITY;
}

int cmd_formats(int argc, char **argv)
{
    bool json = false;
    struct cli_opt opts[] = {
        CLI_OPT_FLAG("json", 0, &json, "machine-readable output"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "formats",
        .synopsis = "[FILE...]",
        .min_args = 0,
        .max_args = -1,
        .about = "Without files: every format this build knows, with its extensions, what\n"
                 "it carries and, where this build cannot open it, why. With files: the\n"
                 "format each one's extension names and the one its first bytes name.\n",
        .more = "Exit 0; with files, 1 when a file's extension and magic bytes disagree\n"
                "or neither names a format (66 for a file that cannot be read).\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    if (cmd.nargs == 0) {
        list(json);
        return EXIT_OK;
    }
    int worst = EXIT_OK;
    if (json)
        printf("[");
    bool first = true; /* no object printed yet */
    for (int i = 0; i < cmd.nargs; i++) {
        int rc = probe(cmd.args[i], json, &first);
        if (rc > worst)
            worst = rc;
    }
    if (json)
        printf("]\n");
    return worst;
}
