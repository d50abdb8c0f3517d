// Goroutine context switch for x86-64, System V ABI. The contract is in context.h.
//
// Frame layout of a suspended context, from the saved SP upwards (8 bytes a slot):
//   [sp+0]  MXCSR (bytes 0-3) and x87 control word (bytes 4-5); bytes 6-7 are not read
//   [sp+8]  r15   [sp+16] r14   [sp+24] r13   [sp+32] r12   [sp+40] rbx   [sp+48] rbp
//   [sp+56] return address
// context_amd64.cc builds the same layout for a new goroutine; keep the two in step.

	.text

// void* goro_rt_switch(void** save_sp /* rdi */, void* new_sp /* rsi */, void* transfer /* rdx */)
	.globl	goro_rt_switch
	.type	goro_rt_switch, @function
	.p2align 4
goro_rt_switch:
	.cfi_startproc
	// The CFI gives each saved register's slot. After the stack switch, an unwinder then reads
	// the incoming goroutine's rbp from its stack, not the outgoing one's from the register,
	// and the callers, which find their frames through rbp, are the incoming goroutine's.
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	// Each value is read back with a load of exactly the size that stored it, so that the
	// load takes it from the store buffer. One 8-byte load of both cannot be forwarded
	// from the two smaller stores and waits for them to reach the cache; that wait cost
	// a quarter of a yield (about 5 ns of 20).
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)
	movl	(%rsp), %r8d
	movzwl	4(%rsp), %r9d

	// Save the outgoing context and adopt the incoming stack.
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp

	// Loading MXCSR and the x87 control word stalls the pipeline, so load them only when
	// the incoming goroutine's differ from the current ones (rarely: a goroutine that
	// changed its rounding mode or exception masks).
	cmpl	(%rsp), %r8d
	jne	2f
	cmpw	4(%rsp), %r9w
	jne	2f
1:
	.cfi_remember_state
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	movq	%rdx, %rax
	ret
2:
	// Out of line, with the frame as at 1: so that the common path falls through.
	.cfi_restore_state
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	jmp	1b
	.cfi_endproc
	.size	goro_rt_switch, .-goro_rt_switch

// First frame of a goroutine. Entered by goro_rt_switch's `ret` with r12 = entry function,
// r13 = its argument and rax = the transfer value; calls entry(transfer, arg), which never
// returns. The undefined return address ends every unwind here.
	.globl	goro_rt_trampoline
	.type	goro_rt_trampoline, @function
	.p2align 4
goro_rt_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	movq	%rax, %rdi
	movq	%r13, %rsi
	call	*%r12
	ud2
	.cfi_endproc
	.size	goro_rt_trampoline, .-goro_rt_trampoline

	.section .note.GNU-stack,"",@progbits
