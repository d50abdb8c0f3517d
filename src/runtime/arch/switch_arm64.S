// Goroutine context switch for AArch64 (AAPCS64). The contract is in context.h.
//
// Frame layout of a suspended context, from the saved SP upwards (8 bytes a slot, 176 bytes,
// a multiple of 16 as AArch64 requires of SP):
//   [sp+0]   x19  x20     [sp+16]  x21  x22     [sp+32]  x23  x24     [sp+48]  x25  x26
//   [sp+64]  x27  x28     [sp+80]  x29 (fp)  x30 (lr, the resume address)
//   [sp+96]  d8   d9      [sp+112] d10  d11     [sp+128] d12  d13     [sp+144] d14  d15
//   [sp+160] FPCR         [sp+168] unused
// context_arm64.cc builds the same layout for a new goroutine; keep the two in step.
// NOTE: built and checked for syntax with clang --target=aarch64-linux-gnu; not yet run on
// AArch64 hardware or under emulation.

	.text

// void* goro_rt_switch(void** save_sp /* x0 */, void* new_sp /* x1 */, void* transfer /* x2 */)
	.globl	goro_rt_switch
	.type	goro_rt_switch, %function
	.p2align 4
goro_rt_switch:
	.cfi_startproc
	sub	sp, sp, #176
	.cfi_adjust_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	// Each saved register's slot, so that after the stack switch an unwinder reads the
	// incoming goroutine's x29 and x30 from its stack, not the outgoing one's from the
	// registers (switch_amd64.S does the same).
	.cfi_offset x19, -176
	.cfi_offset x20, -168
	.cfi_offset x21, -160
	.cfi_offset x22, -152
	.cfi_offset x23, -144
	.cfi_offset x24, -136
	.cfi_offset x25, -128
	.cfi_offset x26, -120
	.cfi_offset x27, -112
	.cfi_offset x28, -104
	.cfi_offset x29, -96
	.cfi_offset x30, -88
	.cfi_offset d8, -80
	.cfi_offset d9, -72
	.cfi_offset d10, -64
	.cfi_offset d11, -56
	.cfi_offset d12, -48
	.cfi_offset d13, -40
	.cfi_offset d14, -32
	.cfi_offset d15, -24
	mrs	x9, fpcr
	str	x9, [sp, #160]

	// Save the outgoing context and adopt the incoming stack.
	mov	x10, sp
	str	x10, [x0]
	mov	sp, x1

	ldr	x10, [sp, #160]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	.cfi_adjust_cfa_offset -176
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	mov	x0, x2
	ret
	.cfi_endproc
	.size	goro_rt_switch, .-goro_rt_switch

// First frame of a goroutine. Entered by goro_rt_switch's `ret` with x19 = entry function,
// x20 = its argument and x0 = the transfer value; calls entry(transfer, arg), which never
// returns. The undefined return address ends every unwind here.
	.globl	goro_rt_trampoline
	.type	goro_rt_trampoline, %function
	.p2align 4
goro_rt_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0
	mov	x1, x20
	blr	x19
	brk	#0
	.cfi_endproc
	.size	goro_rt_trampoline, .-goro_rt_trampoline

	.section .note.GNU-stack,"",%progbits
