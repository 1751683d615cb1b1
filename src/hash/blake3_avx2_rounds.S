/*
 * BLAKE3 AVX2 tier: the seven rounds and the feed-forward of eight
 * compressions at once, in assembly so the state stays in registers.
 *
 *   void pio_b3_rounds_avx2(const __m256i v[16], const __m256i m[16],
 *                           __m256i h[8]);
 *
 * v: the 16 state words of eight inputs (word w of input i in lane i of
 * v[w]), as blake3_lanes.h sets them up; m: the block's 16 message words,
 * transposed the same way; h: out, h[i] = v[i] ^ v[i + 8] after the rounds
 * (the new chaining values). All three 32-byte aligned.
 *
 * Why: the C template (blake3_lanes.h) keeps the same 16 state vectors,
 * but GCC spills and reloads about 140 of them per block; on a Zen 1 VM
 * (256-bit operations split in two) this file hashed a 64 MiB input
 * 1.2-1.3x faster than the C rounds (1.41-1.50 GB/s against 1.17).
 * Here v[0..15] live in ymm0..ymm15 and the message words are memory
 * operands. A rotation by 12 or 7 needs one scratch register: ymm8 (v[8],
 * a "c" word in both the column and the diagonal step, and not needed
 * between the xor that feeds the rotation and the next c += d) is parked
 * in h[0] meanwhile, so each G step costs one store and one load instead.
 * Rotations by 16 and 8 are byte shuffles.
 *
 * G on the columns (a, b, c, d) = (0..3, 4..7, 8..11, 12..15) and on the
 * diagonals (0..3, 5 6 7 4, 10 11 8 9, 15 12 13 14), four at a time in
 * lockstep; round r reads the message words of BLAKE3's permutation
 * schedule (B3_SCHEDULE in blake3_impl.h), written out below per round.
 *
 * System V AMD64, ELF; a leaf function that touches no stack and no
 * callee-saved register; vzeroupper before returning.
 */

#if defined(__x86_64__) && defined(__ELF__)

    .section .rodata
    .p2align 5
rot16_mask: /* each 32-bit word rotated right by 16: bytes 2 3 0 1 */
    .byte 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13
    .byte 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13
rot8_mask: /* each 32-bit word rotated right by 8: bytes 1 2 3 0 */
    .byte 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12
    .byte 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12

/* d_k = d_k OP s_k (VEX three-operand form) for four register pairs. */
.macro OP4 op, s0, s1, s2, s3, d0, d1, d2, d3
    \op    %ymm\s0, %ymm\d0, %ymm\d0
    \op    %ymm\s1, %ymm\d1, %ymm\d1
    \op    %ymm\s2, %ymm\d2, %ymm\d2
    \op    %ymm\s3, %ymm\d3, %ymm\d3
.endm

/* a_k += m[x_k]: message words as memory operands. */
.macro MSG4 a0, a1, a2, a3, x0, x1, x2, x3
    vpaddd  (\x0 * 32)(%rsi), %ymm\a0, %ymm\a0
    vpaddd  (\x1 * 32)(%rsi), %ymm\a1, %ymm\a1
    vpaddd  (\x2 * 32)(%rsi), %ymm\a2, %ymm\a2
    vpaddd  (\x3 * 32)(%rsi), %ymm\a3, %ymm\a3
.endm

/* d = d >>> 16 or 8 for four registers: a byte shuffle. */
.macro SHUF4 mask, d0, d1, d2, d3
    .irp d, \d0, \d1, \d2, \d3
    vpshufb \mask(%rip), %ymm\d, %ymm\d
    .endr
.endm

/* b = b >>> n for four registers, ymm8 as scratch (parked in h[0]). */
.macro ROTR4 n, b0, b1, b2, b3
    vmovdqa %ymm8, (%rdx)
    .irp b, \b0, \b1, \b2, \b3
    vpsrld  $\n, %ymm\b, %ymm8
    vpslld  $(32 - \n), %ymm\b, %ymm\b
    vpor    %ymm8, %ymm\b, %ymm\b
    .endr
.endm

/* One half of G for four (a, b, c, d) at once, message words x:
 * a += b + m[x]; d = (d ^ a) >>> r1 (a shuffle); c += d; b = (b ^ c) >>> r2.
 * ymm8 is parked on entry and on exit. */
.macro HALF mask, r2, a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3, x0, x1, x2, x3
    MSG4    \a0, \a1, \a2, \a3, \x0, \x1, \x2, \x3
    OP4     vpaddd, \b0, \b1, \b2, \b3, \a0, \a1, \a2, \a3
    OP4     vpxor, \a0, \a1, \a2, \a3, \d0, \d1, \d2, \d3
    vmovdqa (%rdx), %ymm8
    SHUF4   \mask, \d0, \d1, \d2, \d3
    OP4     vpaddd, \d0, \d1, \d2, \d3, \c0, \c1, \c2, \c3
    OP4     vpxor, \c0, \c1, \c2, \c3, \b0, \b1, \b2, \b3
    ROTR4   \r2, \b0, \b1, \b2, \b3
.endm

/* G on the four columns, message words x0..x3 then y0..y3. */
.macro COLUMNS x0, x1, x2, x3, y0, y1, y2, y3
    HALF rot16_mask, 12, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, \x0, \x1, \x2, \x3
    HALF rot8_mask, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, \y0, \y1, \y2, \y3
.endm

/* G on the four diagonals. */
.macro DIAGONALS x0, x1, x2, x3, y0, y1, y2, y3
    HALF rot16_mask, 12, 0, 1, 2, 3, 5, 6, 7, 4, 10, 11, 8, 9, 15, 12, 13, 14, \x0, \x1, \x2, \x3
    HALF rot8_mask, 7, 0, 1, 2, 3, 5, 6, 7, 4, 10, 11, 8, 9, 15, 12, 13, 14, \y0, \y1, \y2, \y3
.endm

    .text
    .globl  pio_b3_rounds_avx2
    .hidden pio_b3_rounds_avx2
    .type   pio_b3_rounds_avx2, @function
    .p2align 5
pio_b3_rounds_avx2:
    .cfi_startproc
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    vmovdqa \i * 32(%rdi), %ymm\i
    .endr
    vmovdqa %ymm8, (%rdx) /* v[8] starts parked */

    /* round 0 */
    COLUMNS 0, 2, 4, 6, 1, 3, 5, 7
    DIAGONALS 8, 10, 12, 14, 9, 11, 13, 15
    /* round 1 */
    COLUMNS 2, 3, 7, 4, 6, 10, 0, 13
    DIAGONALS 1, 12, 9, 15, 11, 5, 14, 8
    /* round 2 */
    COLUMNS 3, 10, 13, 7, 4, 12, 2, 14
    DIAGONALS 6, 9, 11, 8, 5, 0, 15, 1
    /* round 3 */
    COLUMNS 10, 12, 14, 13, 7, 9, 3, 15
    DIAGONALS 4, 11, 5, 1, 0, 2, 8, 6
    /* round 4 */
    COLUMNS 12, 9, 15, 14, 13, 11, 10, 8
    DIAGONALS 7, 5, 0, 6, 2, 3, 1, 4
    /* round 5 */
    COLUMNS 9, 11, 8, 15, 14, 5, 12, 1
    DIAGONALS 13, 0, 2, 4, 3, 10, 6, 7
    /* round 6 */
    COLUMNS 11, 5, 1, 8, 15, 0, 9, 6
    DIAGONALS 14, 2, 3, 7, 10, 12, 4, 13

    /* feed-forward: h[i] = v[i] ^ v[i + 8] */
    vpxor   (%rdx), %ymm0, %ymm0
    OP4     vpxor, 9, 10, 11, 12, 1, 2, 3, 4
    vpxor   %ymm13, %ymm5, %ymm5
    vpxor   %ymm14, %ymm6, %ymm6
    vpxor   %ymm15, %ymm7, %ymm7
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7
    vmovdqa %ymm\i, \i * 32(%rdx)
    .endr
    vzeroupper
    ret
    .cfi_endproc
    .size   pio_b3_rounds_avx2, . - pio_b3_rounds_avx2

#endif

    .section .note.GNU-stack, "", @progbits
