/* fedbuild's bare-metal startup for rv32 (ESP32-C3 and QEMU virt).
 *
 * _start: global pointer, stack, trap vector, .bss cleared, .data copied when its
 * load address differs (neither board needs it today: ESP-IDF's bootloader and QEMU
 * both load RAM segments in place), thread pointer for picolibc's TLS (errno), then
 * board_init(), main(), and board_exit(main's return value).
 *
 * Every trap goes to _trap_entry, which saves the registers and calls
 * fedbuild_panic() (panic.c) on a stack of its own.
 */
    .section .entry.text, "ax"
    .globl _start
    .type _start, @function
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, _stack_top
    la t0, _vector_table
    ori t0, t0, 1       /* vectored: the ESP32-C3 supports nothing else */
    csrw mtvec, t0

    la t0, _bss_start
    la t1, _bss_end
1:  bgeu t0, t1, 2f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 1b

2:  la t0, _data_start
    la t1, _data_end
    la t2, _data_load
    beq t0, t2, 4f
3:  bgeu t0, t1, 4f
    lw t3, 0(t2)
    sw t3, 0(t0)
    addi t0, t0, 4
    addi t2, t2, 4
    j 3b

4:  la tp, _tls_start
    call board_init
    call main
    call board_exit
5:  j 5b
    .size _start, . - _start

/* Exceptions land on entry 0 in vectored mode, interrupt n on entry n. */
    .section .entry.vectors, "ax"
    .balign 256
    .globl _vector_table
_vector_table:
    .option push
    .option norvc
    .rept 32
    j _trap_entry
    .endr
    .option pop

    .section .entry.text, "ax"
    .type _trap_entry, @function
_trap_entry:
    csrw mscratch, t0
    la t0, _panic_regs
    .irp n, 1,2,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sw x\n, (\n * 4)(t0)
    .endr
    csrr t1, mscratch
    sw t1, (5 * 4)(t0)
    mv a0, t0
    csrr a1, mcause
    csrr a2, mepc
    csrr a3, mtval
    la sp, _panic_stack_top
    call fedbuild_panic
6:  j 6b
    .size _trap_entry, . - _trap_entry

    .section .bss.fedbuild_panic, "aw", @nobits
    .balign 16
    .globl _panic_regs
_panic_regs:
    .space 32 * 4
_panic_stack:
    .space 1024
_panic_stack_top:
