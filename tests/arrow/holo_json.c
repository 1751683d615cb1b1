/*
 * The oracle for the JavaScript Arrow checks: what an Arrow file converted
 * from a HOLO file must hold, computed from the HOLO file with the reader
 * alone (none of the Arrow code), as JSON:
 *   {"rows": N, "fields": [[name, type], ...], "metadata": {...},
 *    "columns": {name: [value per row], ...}}
 * Types are spelled as apache-arrow prints them. float32 values are
 * printed with 9 significant digits, float64 with 17 (both round-trip).
 *
 * usage: holo_json FILE.holo frames|atoms
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <prismio.h>

static const char *const arr_names[3] = {"positions", "velocities", "forces"};

static void json_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int frame_at(const pio_reader *r, uint64_t i, struct pio_frame *f)
{
    struct pio_error e = {0};
    if (pio_reader_frame(r, i, f, &e) != 0) {
        fprintf(stderr, "holo_json: %s\n", e.message);
        exit(1);
    }
    return 0;
}

static void metadata(const pio_reader *r, const char *layout)
{
    printf("\"metadata\": {\"prismio.layout\": \"%s\", \"prismio.units\": \"length=nm time=ps "
           "velocity=nm/ps force=kJ/mol/nm mass=u charge=e\"",
           layout);
    for (uint64_t i = 0; i < pio_reader_metadata_count(r); i++) {
        const char *k, *v;
        pio_reader_metadata_at(r, i, &k, &v);
        printf(", ");
        json_str(k, strlen(k));
        printf(": ");
        json_str(v, strlen(v));
    }
    printf("},\n");
}

static void frames_layout(const pio_reader *r)
{
    uint64_t n = pio_reader_nframes(r);
    struct pio_frame f0;
    uint32_t nsc = 0;
    char names[64][PIO_SCALAR_NAME_SIZE];
    if (n) {
        frame_at(r, 0, &f0);
        for (; nsc < f0.nscalars && nsc < 64; nsc++)
            memcpy(names[nsc], f0.scalars[nsc].name, PIO_SCALAR_NAME_SIZE);
    }
    printf("{\"rows\": %" PRIu64 ",\n\"fields\": [[\"frame\", \"Int64\"], [\"step\", \"Int64\"], "
           "[\"time\", \"Float64\"], [\"natoms\", \"Int64\"], "
           "[\"box\", \"FixedSizeList[9]<Float64>\"]",
           n);
    for (int k = 0; k < 3; k++)
        printf(", [\"%s\", \"List<FixedSizeList[3]<Float32>>\"]", arr_names[k]);
    for (uint32_t s = 0; s < nsc; s++)
        printf(", [\"%s\", \"Float64\"]", names[s]);
    printf("],\n");
    metadata(r, "frames");
    printf("\"columns\": {\n");
    const char *cols[5] = {"frame", "step", "time", "natoms", "box"};
    for (int c = 0; c < 8 + (int)nsc; c++) {
        printf("%s\"%s\": [", c ? ",\n" : "",
               c < 5   ? cols[c]
               : c < 8 ? arr_names[c - 5]
                       : names[c - 8]);
        for (uint64_t i = 0; i < n; i++) {
            struct pio_frame f;
            frame_at(r, i, &f);
            if (i)
                putchar(',');
            if (c == 0)
                printf("%" PRIu64, i);
            else if (c == 1)
                printf("%" PRId64, f.step);
            else if (c == 2)
                printf("%.17g", f.time);
            else if (c == 3)
                printf("%" PRIu64, f.natoms);
            else if (c == 4 && !(f.fields & PIO_FIELD_BOX))
                printf("null");
            else if (c == 4) {
                for (int k = 0; k < 9; k++)
                    printf("%s%.17g", k ? "," : "[", f.box[k / 3][k % 3]);
                putchar(']');
            } else if (c < 8) {
                const float(*a)[3] = c == 5 ? f.positions : c == 6 ? f.velocities : f.forces;
                if (!a) {
                    printf("null");
                    continue;
                }
                putchar('[');
                for (uint64_t k = 0; k < 3 * f.natoms; k++)
                    printf("%s%.9g", k ? "," : "", (double)a[k / 3][k % 3]);
                putchar(']');
            } else {
                const char *want = names[c - 8];
                int found = -1;
                for (uint32_t s = 0; s < f.nscalars; s++)
                    if (!strncmp(f.scalars[s].name, want, PIO_SCALAR_NAME_SIZE))
                        found = (int)s;
                if (found < 0)
                    printf("null");
                else
                    printf("%.17g", f.scalars[found].value);
            }
        }
        printf("]");
    }
    printf("}}\n");
}

static void atoms_layout(const pio_reader *r)
{
    uint64_t n = pio_reader_nframes(r), rows = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct pio_frame f;
        frame_at(r, i, &f);
        rows += f.natoms;
    }
    struct pio_topology t;
    int has_top = pio_reader_topology(r, &t) == 0;
    static const char *const comps[9] = {"x", "y", "z", "vx", "vy", "vz", "fx", "fy", "fz"};
    printf("{\"rows\": %" PRIu64 ",\n\"fields\": [[\"frame\", \"Int64\"], [\"step\", \"Int64\"], "
           "[\"time\", \"Float64\"], [\"atom\", \"Int32\"]",
           rows);
    for (int k = 0; k < 9; k++)
        printf(", [\"%s\", \"Float32\"]", comps[k]);
    if (has_top)
        printf(", [\"name\", \"Utf8\"], [\"resname\", \"Utf8\"], [\"resid\", \"Int32\"], "
               "[\"chain\", \"Utf8\"], [\"element\", \"Utf8\"], [\"mass\", \"Float32\"], "
               "[\"charge\", \"Float32\"]");
    printf("],\n");
    metadata(r, "atoms");
    printf("\"columns\": {\n");
    static const char *const tcols[7] = {"name",    "resname", "resid", "chain",
                                         "element", "mass",    "charge"};
    for (int c = 0; c < 13 + (has_top ? 7 : 0); c++) {
        static const char *const first[4] = {"frame", "step", "time", "atom"};
        printf("%s\"%s\": [", c ? ",\n" : "",
               c < 4    ? first[c]
               : c < 13 ? comps[c - 4]
                        : tcols[c - 13]);
        int sep = 0;
        for (uint64_t i = 0; i < n; i++) {
            struct pio_frame f;
            frame_at(r, i, &f);
            for (uint64_t a = 0; a < f.natoms; a++) {
                if (sep++)
                    putchar(',');
                if (c == 0)
                    printf("%" PRIu64, i);
                else if (c == 1)
                    printf("%" PRId64, f.step);
                else if (c == 2)
                    printf("%.17g", f.time);
                else if (c == 3)
                    printf("%" PRIu64, a);
                else if (c < 13) {
                    int k = c - 4;
                    const float(*p)[3] = k < 3 ? f.positions : k < 6 ? f.velocities : f.forces;
                    if (p)
                        printf("%.9g", (double)p[a][k % 3]);
                    else
                        printf("null");
                } else if (c == 13)
                    json_str(t.names[a], 8);
                else if (c == 14)
                    json_str(t.resnames[a], 8);
                else if (c == 15)
                    printf("%d", t.resids[a]);
                else if (c == 16)
                    json_str(t.chains[a], 4);
                else if (c == 17)
                    json_str(t.elements[a], 4);
                else if (c == 18)
                    printf("%.9g", (double)t.masses[a]);
                else
                    printf("%.9g", (double)t.charges[a]);
            }
        }
        printf("]");
    }
    printf("}}\n");
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "frames") && strcmp(argv[2], "atoms"))) {
        fprintf(stderr, "usage: holo_json FILE.holo frames|atoms\n");
        return 64;
    }
    pio_reader *r;
    struct pio_error e = {0};
    if (pio_reader_open(&r, argv[1], NULL, &e) != 0) {
        fprintf(stderr, "holo_json: %s\n", e.message);
        return 1;
    }
    if (argv[2][0] == 'f')
        frames_layout(r);
    else
        atoms_layout(r);
    pio_reader_close(r);
    return 0;
}
