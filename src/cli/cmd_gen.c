/*
 * prismio gen: a synthetic trajectory with realistic values, streamed
 * frame by frame (memory is a few frames whatever atoms x frames is).
 *
 * The system is a box of water-like molecules (O, H, H) at the density of
 * liquid water (100 atoms/nm^3): positions start on a jittered lattice and
 * diffuse (0.01 nm per frame), velocities are Maxwell-Boltzmann at 300 K
 * for each atom's mass, forces Gaussian with a typical 500 kJ/mol/nm
 * spread. Steps advance by 100 (every 100 x 2 fs = 0.2 ps), with potential,
 * kinetic and total energy scalars. Everything is seeded: the same seed
 * gives the same file contents.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_gauss(uint64_t *s)
{
    double u = rng_unit(s), v = rng_unit(s);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* --fields: x, v, f, comma-separated or not ("x,v,f", "xvf") -> bits
 * 1 (velocities) and 2 (forces). */
static int parse_fields(const char *s, void *dest)
{
    unsigned *out = dest;
    *out = 0;
    for (const char *p = s; *p; p++) {
        if (*p == 'v')
            *out |= 1;
        else if (*p == 'f')
            *out |= 2;
        else if (*p != 'x' && *p != ',')
            return -1;
    }
    return 0;
}

int cmd_gen(int argc, char **argv)
{
    unsigned fields = 0;
    uint64_t natoms = 0, nframes = 0, seed = 1, every = 0, pause_ms = 0;
    bool overwrite = false, direct = false, format1 = false;
    enum pio_io_engine engine = PIO_IO_AUTO;
    struct cli_opt opts[] = {
        {.name = "atoms",
         .kind = CLI_SIZE,
         .dest = &natoms,
         .value = "N",
         .min = 1,
         .max = PIO_HOLO_MAX_ATOMS,
         .flags = CLI_REQUIRED,
         .help = "atoms per frame; required"},
        CLI_OPT_SIZE("frames", &nframes, "M", 0, 0,
                     "frames (default 0: topology and metadata only)"),
        CLI_OPT_CUSTOM("fields", &fields, "LIST", parse_fields, "a list of x, v, f",
                       "x (positions, always), v (velocities), f (forces), "
                       "comma-separated (default x)"),
        CLI_OPT_U64("seed", &seed, "S", 0, 0,
                    "random seed (default 1): the same seed, the same file"),
        CLI_OPT_FLAG("overwrite", 0, &overwrite, "replace OUT if it exists"),
        CLI_OPT_CUSTOM("engine", &engine, "E", cli_parse_engine, CLI_ENGINES,
                       "I/O engine of the writer: pread or uring (default: "
                       "PIO_IO_ENGINE, else pread)"),
        CLI_OPT_FLAG("direct", 0, &direct, "O_DIRECT writes"),
        CLI_OPT_SIZE("commit-every", &every, "N", 0, 0,
                     "commit after every N frames (default 0: once, at the end)"),
        CLI_OPT_SIZE("pause", &pause_ms, "MS", 0, 3600000,
                     "sleep MS milliseconds after each commit (a simulation to follow)"),
        CLI_OPT_FLAG("format-1", 0, &format1, "write HOLO 1.1 (what prismio 0.1 reads)"),
        CLI_OPT_END,
    };
    struct cli_cmd cmd = {
        .name = "gen",
        .synopsis = "OUT.holo",
        .min_args = 1,
        .max_args = 1,
        .about = "Writes a synthetic water-box trajectory (positions always; v = velocities,\n"
                 "f = forces), streaming, so atoms x frames may exceed memory. The same seed\n"
                 "gives the same file contents.\n",
        .opts = opts,
    };
    int prc = cli_parse(&cmd, argc, argv);
    if (prc != CLI_GO_ON)
        return prc;
    const char *out = cmd.args[0];
    bool want_v = fields & 1, want_f = fields & 2;

    size_t n = (size_t)natoms;
    float(*x)[3] = malloc(n * sizeof(*x));
    float(*v)[3] = want_v ? malloc(n * sizeof(*v)) : NULL;
    float(*f)[3] = want_f ? malloc(n * sizeof(*f)) : NULL;
    struct pio_topology top = {.natoms = natoms, .nbonds = natoms / 3 * 2};
    char(*names)[8] = calloc(n, 8), (*elem)[4] = calloc(n, 4), (*resn)[8] = calloc(n, 8),
    (*chain)[4] = calloc(n, 4);
    int32_t *resid = malloc(n * 4);
    float *mass = malloc(n * 4), *charge = malloc(n * 4);
    uint32_t(*bonds)[2] = malloc((size_t)top.nbonds * 8 + 8);
    int status = EXIT_OK;
    if (!x || (want_v && !v) || (want_f && !f) || !names || !elem || !resn || !chain || !resid ||
        !mass || !charge || !bonds) {
        cli_err("gen", "out of memory for %llu atoms", (unsigned long long)natoms);
        status = EXIT_IOERR;
        goto out;
    }
    double box = cbrt((double)natoms / 100.0);
    uint64_t rng = seed * 0x2545F4914F6CDD1Dull + 1;
    uint64_t per_side = (uint64_t)ceil(cbrt((double)natoms));
    double spacing = box / (double)per_side;
    for (uint64_t i = 0; i < natoms; i++) {
        int k = (int)(i % 3);
        strcpy(names[i], k == 0 ? "OW" : k == 1 ? "HW1" : "HW2");
        strcpy(elem[i], k == 0 ? "O" : "H");
        strcpy(resn[i], "SOL");
        strcpy(chain[i], "W");
        resid[i] = (int32_t)(i / 3 + 1);
        mass[i] = k == 0 ? 15.9994f : 1.008f;
        charge[i] = k == 0 ? -0.834f : 0.417f;
        uint64_t c = i;
        for (int d = 0; d < 3; d++) {
            x[i][d] =
                (float)(((double)(c % per_side) + 0.5) * spacing + 0.1 * spacing * rng_gauss(&rng));
            c /= per_side;
        }
    }
    for (uint64_t m = 0; m < natoms / 3; m++) {
        bonds[2 * m][0] = (uint32_t)(3 * m);
        bonds[2 * m][1] = (uint32_t)(3 * m + 1);
        bonds[2 * m + 1][0] = (uint32_t)(3 * m);
        bonds[2 * m + 1][1] = (uint32_t)(3 * m + 2);
    }
    top.names = (const char(*)[8])names;
    top.elements = (const char(*)[4])elem;
    top.resnames = (const char(*)[8])resn;
    top.chains = (const char(*)[4])chain;
    top.resids = resid;
    top.masses = mass;
    top.charges = charge;
    top.bonds = (const uint32_t(*)[2])bonds;

    struct pio_writer_options wo = PIO_WRITER_OPTIONS_INIT;
    wo.flags = (overwrite ? PIO_WRITER_OVERWRITE : 0) | (direct ? PIO_WRITER_DIRECT : 0) |
               (format1 ? PIO_WRITER_FORMAT_1 : 0);
    wo.engine = engine;
    struct pio_error e = {0};
    pio_writer *w;
    int rc = pio_writer_create(&w, out, &wo, &e);
    if (rc != 0) {
        status = cli_fail("gen", rc, &e);
        goto out;
    }
    char seedstr[32];
    snprintf(seedstr, sizeof(seedstr), "%llu", (unsigned long long)seed);
    if ((rc = pio_writer_set_topology(w, &top, &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "creator", "prismio gen", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "engine", "synthetic water box", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "units", "nm ps kJ/mol e u", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "timestep", "0.002 ps", &e)) != 0 ||
        (rc = pio_writer_set_metadata(w, "seed", seedstr, &e)) != 0) {
        pio_writer_close(w, NULL);
        status = cli_fail("gen", rc, &e);
        goto out;
    }
    const double kT = 2.494; /* kJ/mol at 300 K */
    for (uint64_t fr = 0; fr < nframes; fr++) {
        double ekin = 0;
        for (uint64_t i = 0; i < natoms; i++) {
            double sigma_v = sqrt(kT / mass[i]);
            for (int d = 0; d < 3; d++) {
                double p = x[i][d] + 0.01 * rng_gauss(&rng);
                p -= box * floor(p / box); /* wrap into the box */
                x[i][d] = (float)p;
                if (v) {
                    v[i][d] = (float)(sigma_v * rng_gauss(&rng));
                    ekin += 0.5 * mass[i] * v[i][d] * v[i][d];
                }
                if (f)
                    f[i][d] = (float)(500.0 * rng_gauss(&rng));
            }
        }
        if (!v)
            ekin = 1.5 * kT * (double)natoms;
        double epot = -41.5 * (double)natoms / 3.0 * (1.0 + 0.001 * rng_gauss(&rng));
        struct pio_scalar sc[3] = {{"potential", epot}, {"kinetic", ekin}, {"total", epot + ekin}};
        struct pio_frame fr_ = {
            .natoms = natoms,
            .fields = PIO_FIELD_BOX,
            .nscalars = 3,
            .step = (int64_t)(fr * 100),
            .time = (double)fr * 0.2,
            .box = {{box, 0, 0}, {0, box, 0}, {0, 0, box}},
            .positions = (const float(*)[3])x,
            .velocities = (const float(*)[3])v,
            .forces = (const float(*)[3])f,
            .scalars = sc,
        };
        if ((rc = pio_writer_append(w, &fr_, &e)) != 0 ||
            (every && (fr + 1) % every == 0 && (rc = pio_writer_commit(w, &e)) != 0)) {
            pio_writer_close(w, NULL);
            status = cli_fail("gen", rc, &e);
            goto out;
        }
        if (every && (fr + 1) % every == 0 && pause_ms) {
            struct timespec ts = {(time_t)(pause_ms / 1000), (long)(pause_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
        }
    }
    if ((rc = pio_writer_close(w, &e)) != 0)
        status = cli_fail("gen", rc, &e);
out:
    free(x);
    free(v);
    free(f);
    free(names);
    free(elem);
    free(resn);
    free(chain);
    free(resid);
    free(mass);
    free(charge);
    free(bonds);
    return status;
}
