# gdb commands for goro programs: list goroutines and show a goroutine's stack, in a live
# process or a core file.
#
#   (gdb) source tools/goro-gdb.py
#   (gdb) info goroutines
#   (gdb) goroutine 7 bt
#   (gdb) goroutine all bt
#
# `info goroutines` prints one line per goroutine, and '*' marks the one that the selected
# thread runs. `goroutine N CMD` runs any gdb command (bt, bt full, frame 3, info locals) in
# goroutine N's context, and `goroutine all CMD` runs it for every goroutine.
#
# Finding goroutines. Every G record sits at the top of its own stack slot, and slots are
# carved from slabs (src/runtime/stack/stack.h). The script walks the slab list
# `goro::rt::(anonymous namespace)::slabs` and reads the G at the top of every carved slot,
# skipping free ones (status idle or dead). Which thread runs a goroutine comes from the M
# list (`goro::rt::sched.allm`): an M whose `curg` is the G runs it on thread `M::tid`.
# Everything is read from memory through the program's own debug information, so the script
# works the same on a live process and on a core file, and needs the goro library built with
# -g. It reads the library's std::atomic fields by casting their address to the value type,
# so it does not depend on libstdc++'s member names.
#
# Unwinding a parked goroutine. A parked G is described by one word, G::sched_sp, below
# which goro_rt_switch pushed the callee-saved registers and the return address (the layout
# is in src/runtime/arch/switch_amd64.S and switch_arm64.S). Setting $sp and $pc and running
# `bt` would work on a live process only, because gdb cannot write registers of a core file.
# The script therefore registers a Python frame unwinder. While a goroutine command runs, the
# unwinder claims the selected thread's innermost real frame and reports the goroutine's saved
# registers as that frame's caller's registers. From there gdb's own DWARF unwinder walks the
# goroutine's frames to its first one (goro_rt_trampoline, whose CFI ends every unwind), so
# the output has gdb's usual frame format, arguments and `bt full` locals, on live processes
# and core files alike. A frame filter hides the thread's own frames, which lie outside the
# goroutine's stack. `bt` therefore starts at frame #1, or at a higher number when the
# thread's innermost frames are inlined calls, and `goroutine N frame K` uses the same
# numbers. The selected thread only hosts the walk: its registers are never changed.
#
# A goroutine that is running (or inside goro::blocking) has its frames on a thread's stack,
# so `goroutine N CMD` runs CMD in that thread, and the selected thread and frame are
# restored afterwards.
#
# Loading automatically: gdb runs `PROGRAM-gdb.py` from the directory of PROGRAM (or of the
# shared library that contains goro) when that directory is in the auto-load safe path. The
# name comes from the file's real path, with symbolic links resolved:
#   cp tools/goro-gdb.py build/myserver-gdb.py
#   echo 'add-auto-load-safe-path /path/to/build' >> ~/.gdbinit
#
# Tested with gdb 13.1 (Debian 12) on x86-64.

import os

import gdb
import gdb.unwinder
from gdb.FrameDecorator import FrameDecorator

# Names of the goro variables the script reads. The anonymous-namespace names are how gdb
# spells variables with internal linkage.
SCHED = "goro::rt::sched"
SLABS = "goro::rt::(anonymous namespace)::slabs"
WAIT_REASON_STRINGS = "goro::rt::(anonymous namespace)::kStrings"

# G records are 64-byte aligned at the top of their slot, as g_for_slot (stack.cc) places them.
G_ALIGNMENT = 64

# Frames looked at to find the function a goroutine is in, for `info goroutines`. A parked
# goroutine's innermost user frame lies below about ten runtime and library frames (eight
# for a mutex lock in the debug build).
SUMMARY_FRAME_LIMIT = 64

# Frames whose function starts with one of these belong to goro, to the C++ standard library
# or to a sanitizer's runtime. `info goroutines` skips them to show the function that called
# into them.
LIBRARY_PREFIXES = (
    "goro::",
    "goro_rt_",
    "std::",
    "__gnu_cxx::",
    "__asan",
    "__tsan",
    "__ubsan",
    "__sanitizer",
    "__interceptor_",
)

# Shared libraries of the sanitizer runtimes. Their inlined functions may be named without
# their namespace, so their frames are recognised by library.
SANITIZER_LIBRARIES = ("libasan.so", "libtsan.so", "libubsan.so", "liblsan.so")


class GoroError(gdb.GdbError):
    pass


# ---- Reading goro's data structures --------------------------------------------------------


def lookup_variable(name):
    """Return the value of a global or file-local variable of the program.

    A symbol lookup, unlike parse_and_eval, does not depend on the language of the selected
    frame: C++ names do not parse while gdb stands in a C function such as read().
    """
    symbol = gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)
    if symbol is None:
        raise GoroError(
            "goro-gdb: variable %s not found. Is this a goro program, built with -g?" % name
        )
    return symbol.value()


def lookup_type(name):
    try:
        return gdb.lookup_type(name)
    except gdb.error as e:
        raise GoroError(
            "goro-gdb: type %s not found (%s). Is this a goro program, built with -g?" % (name, e)
        )


def load_atomic(value, value_type):
    """Read a std::atomic<T> field as a T, without libstdc++'s member names."""
    return value.address.cast(value_type.pointer()).dereference()


def enum_names(enum_type):
    names = {}
    for field in enum_type.strip_typedefs().fields():
        names[field.enumval] = field.name.split("::")[-1]
    return names


class Layout:
    """Types and tables of the program being debugged, looked up once per command."""

    def __init__(self):
        self.g_type = lookup_type("goro::rt::G")
        self.g_pointer = self.g_type.pointer()
        self.gstatus_type = lookup_type("goro::rt::gstatus")
        self.gstatus_names = enum_names(self.gstatus_type)
        self.waitreason_type = lookup_type("goro::rt::waitreason")
        self.waitreason_names = enum_names(self.waitreason_type)
        self.word_type = lookup_type("unsigned long")
        self.wait_reason_strings = read_wait_reason_strings()

    def status_name(self, gp):
        status = int(load_atomic(gp["status"], self.gstatus_type))
        return self.gstatus_names.get(status, "status %d" % status)

    def wait_reason(self, gp):
        reason = int(load_atomic(gp["wait_reason"], self.waitreason_type))
        if reason < len(self.wait_reason_strings):
            return self.wait_reason_strings[reason]
        # The table was not readable: fall back on the enumerator's name.
        return self.waitreason_names.get(reason, "wait reason %d" % reason).replace("_", " ")

    def read_word(self, address):
        return int(gdb.Value(address).cast(self.word_type.pointer()).dereference())


def read_wait_reason_strings():
    """Return the program's wait-reason strings (waitreason.cc), or [] if unreadable.

    Each entry is a std::string_view. Its pointer and length are found by their types, so
    the names the standard library gives those members do not matter.
    """
    try:
        table = lookup_variable(WAIT_REASON_STRINGS)
        count = table.type.strip_typedefs().range()[1] + 1
        strings = []
        for i in range(count):
            entry = table[i]
            pointer = length = None
            for field in entry.type.strip_typedefs().fields():
                if not hasattr(field, "bitpos") or field.is_base_class:
                    continue
                code = field.type.strip_typedefs().code
                if code == gdb.TYPE_CODE_PTR:
                    pointer = entry[field]
                elif code == gdb.TYPE_CODE_INT:
                    length = int(entry[field])
            if pointer is None or length is None:
                return []
            strings.append(pointer.string(length=length) if length else "")
        return strings
    except (gdb.error, RuntimeError, GoroError):
        return []


class Goroutine:
    def __init__(self, layout, gp):
        self.gp = gp
        self.goid = int(gp["goid"])
        self.status = layout.status_name(gp)
        self.reason = layout.wait_reason(gp) if self.status == "waiting" else ""
        self.started = bool(gp["started"])
        self.stack_lo = int(gp["stack"]["lo"])
        self.stack_hi = int(gp["stack"]["hi"])
        self.sched_sp = int(gp["sched_sp"])
        self.lwp = None  # thread id of the M running it, if any

    def state(self):
        if self.status == "waiting" and self.reason:
            return "waiting (%s)" % self.reason
        if self.lwp is not None:
            return "%s on LWP %d" % (self.status, self.lwp)
        return self.status

    def is_parked(self):
        return self.lwp is None and self.status in ("waiting", "runnable")


def all_goroutines(layout):
    """Return the live goroutines (neither idle nor dead), sorted by id."""
    slabs = lookup_variable(SLABS)
    slab_pointer = slabs.type.template_argument(0)
    slab = load_atomic(slabs, slab_pointer)
    goroutines = []
    missing = 0  # slots whose memory reads as zeros in a core file
    while int(slab) != 0:
        base = int(slab["base"])
        stride = int(slab["stride"])
        for i in range(int(slab["carved"])):
            hi = base + (i + 1) * stride
            address = (hi - layout.g_type.sizeof) & ~(G_ALIGNMENT - 1)
            gp = gdb.Value(address).cast(layout.g_pointer).dereference()
            slot_hi = int(gp["stack"]["hi"])
            if slot_hi == 0 and core_file_loaded():
                missing += 1
                continue
            if slot_hi != hi:
                raise GoroError(
                    "goro-gdb: the G record at 0x%x does not belong to the slot ending at 0x%x; "
                    "tools/goro-gdb.py does not match this goro version's stack layout"
                    % (address, hi)
                )
            if layout.status_name(gp) in ("idle", "dead"):
                continue
            goroutines.append(Goroutine(layout, gp))
        slab = slab["next"]

    if missing:
        gdb.write(
            "goro-gdb: warning: %d goroutine stack slots are missing from this core file, so "
            "their goroutines are not listed. gdb's gcore cannot copy stacks guarded with "
            "MADV_GUARD_INSTALL: run the program with GODEBUG=gorostackguard=1 to take cores "
            "with gcore.\n" % missing
        )
    running = running_threads(layout)
    for g in goroutines:
        g.lwp = running.get(int(g.gp.address))
    goroutines.sort(key=lambda g: g.goid)
    return goroutines


def core_file_loaded():
    target = gdb.execute("info target", to_string=True)
    return any(line.startswith("Local core dump file") for line in target.splitlines())


def running_threads(layout):
    """Map the address of every G that an M is running to that M's thread id."""
    sched = lookup_variable(SCHED)
    result = {}
    mp = sched["allm"]
    while int(mp) != 0:
        curg = int(load_atomic(mp["curg"], layout.g_pointer))
        if curg != 0 and int(mp["tid"]) != 0:
            result[curg] = int(mp["tid"])
        mp = mp["alllink"]
    return result


def find_goroutine(layout, argument):
    try:
        goid = int(argument, 0)
    except ValueError:
        goid = int(gdb.parse_and_eval(argument))
    for g in all_goroutines(layout):
        if g.goid == goid:
            return g
    raise GoroError(
        "goro-gdb: no live goroutine with id %d; `info goroutines` lists the live ones" % goid
    )


# ---- Saved registers of a parked goroutine ------------------------------------------------


class SavedContext:
    """Registers of a parked goroutine as its goro_rt_switch call will return with them."""

    def __init__(self, registers, stack_pointer):
        self.registers = registers  # register name -> value in the caller of goro_rt_switch
        self.stack_pointer = stack_pointer  # G::sched_sp


def saved_context(layout, g):
    sp = g.sched_sp
    word = layout.read_word
    arch = gdb.selected_inferior().architecture().name()
    if arch == "i386:x86-64":
        # switch_amd64.S: [sp] FP control words, then r15 r14 r13 r12 rbx rbp, return address.
        registers = {
            "r15": word(sp + 8),
            "r14": word(sp + 16),
            "r13": word(sp + 24),
            "r12": word(sp + 32),
            "rbx": word(sp + 40),
            "rbp": word(sp + 48),
            "rip": word(sp + 56),
            "rsp": sp + 64,
        }
    elif arch.startswith("aarch64"):
        # switch_arm64.S: x19..x28, x29, x30 (the resume address), d8..d15, FPCR; 176 bytes.
        # NOTE: not yet run on AArch64; d8-d15 are not restored, so floating-point locals of
        # the goroutine's frames may print wrong values there.
        registers = {"x%d" % (19 + i): word(sp + 8 * i) for i in range(10)}
        registers["x29"] = word(sp + 80)
        registers["x30"] = word(sp + 88)
        registers["pc"] = word(sp + 88)
        registers["sp"] = sp + 176
    else:
        raise GoroError("goro-gdb: unsupported architecture %s (x86-64 and AArch64 only)" % arch)
    return SavedContext(registers, sp)


def pc_and_sp_names():
    arch = gdb.selected_inferior().architecture().name()
    return ("rip", "rsp") if arch == "i386:x86-64" else ("pc", "sp")


# ---- Unwinder and frame filter --------------------------------------------------------------


class ParkedGoroutineView:
    """The parked goroutine whose frames the selected thread currently shows."""

    def __init__(self, g, context, ptid, host_pc, host_sp):
        self.goroutine = g
        self.context = context
        self.ptid = ptid
        self.host_pc = host_pc
        self.host_sp = host_sp


# Set only while a goroutine command runs (see show_parked_goroutine).
active_view = None


class FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class ParkedGoroutineUnwinder(gdb.unwinder.Unwinder):
    """Make the selected thread's innermost real frame return into a parked goroutine."""

    def __init__(self):
        super().__init__("goro-parked-goroutine")

    def __call__(self, pending_frame):
        view = active_view
        if view is None or gdb.selected_thread() is None:
            return None
        if gdb.selected_thread().ptid != view.ptid:
            return None
        pc_name, sp_name = pc_and_sp_names()
        # Only the host thread's innermost real frame has exactly the thread's registers.
        if int(pending_frame.read_register(pc_name)) != view.host_pc:
            return None
        if int(pending_frame.read_register(sp_name)) != view.host_sp:
            return None

        # The frame id's stack address must lie below the goroutine's first frame, or gdb
        # would stop with "previous frame inner to this frame".
        frame_id = FrameId(gdb.Value(view.context.stack_pointer), gdb.Value(view.host_pc))
        info = pending_frame.create_unwind_info(frame_id)
        for name, value in view.context.registers.items():
            register_type = pending_frame.read_register(name).type
            info.add_saved_register(name, gdb.Value(value).cast(register_type))
        return info


class GoroutineFrame(FrameDecorator):
    """A frame of a parked goroutine, named as gdb's own `bt` names frames.

    FrameDecorator's default names a frame by its full symbol, parameter list included, and
    prints some lambdas by their mangled names.
    """

    def function(self):
        frame = self.inferior_frame()
        if frame.type() in (gdb.DUMMY_FRAME, gdb.SIGTRAMP_FRAME):
            return super().function()
        name = frame.name()
        return name if name is not None else frame.pc()


class HostFrameFilter:
    """Hide the host thread's own frames while it shows a parked goroutine's stack.

    Enabled only while a goroutine command runs: with any frame filter enabled, gdb prints
    every backtrace through its Python path, which formats frames slightly differently.
    """

    def __init__(self):
        self.name = "goro-parked-goroutine"
        self.priority = 100
        self.enabled = False

    def filter(self, frames):
        view = active_view
        if view is None:
            return frames
        return (
            GoroutineFrame(d)
            for d in frames
            if frame_on_goroutine_stack(d.inferior_frame(), view.goroutine)
        )


def frame_on_goroutine_stack(frame, g):
    _, sp_name = pc_and_sp_names()
    try:
        sp = int(frame.read_register(sp_name))
    except gdb.error:
        return False
    return g.stack_lo <= sp <= g.stack_hi


gdb.unwinder.register_unwinder(None, ParkedGoroutineUnwinder(), replace=True)
host_frame_filter = HostFrameFilter()
gdb.frame_filters[host_frame_filter.name] = host_frame_filter


# ---- Running a command in a goroutine's context -------------------------------------------


def require_thread():
    thread = gdb.selected_thread()
    if thread is None:
        raise GoroError(
            "goro-gdb: no thread selected; run or attach to the program, or load a core file"
        )
    return thread


def find_thread(lwp):
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] == lwp:
            return thread
    return None


class SelectionRestorer:
    """Restore the selected thread and frame level when a goroutine command ends."""

    def __enter__(self):
        self.thread = gdb.selected_thread()
        try:
            self.level = gdb.selected_frame().level()
        except gdb.error:
            self.level = None
        return self

    def __exit__(self, *exc):
        if self.thread is not None and self.thread.is_valid():
            self.thread.switch()
            if self.level is not None:
                select_frame_level(self.level)
        return False


def select_frame_level(level):
    frame = gdb.newest_frame()
    while frame is not None and frame.level() < level:
        frame = frame.older()
    if frame is not None:
        frame.select()


def show_parked_goroutine(layout, g, action):
    """Run action() while the selected thread shows the parked goroutine g's frames."""
    global active_view
    if not g.started or g.sched_sp == 0:
        raise GoroError("goro-gdb: goroutine %d has not started yet, so it has no frames" % g.goid)
    thread = require_thread()
    context = saved_context(layout, g)
    pc_name, sp_name = pc_and_sp_names()
    # The thread's registers, read before the unwinder is switched on. Inlined frames at the
    # top of the thread's stack share them with the real frame that contains them.
    newest = gdb.newest_frame()
    host_pc = int(newest.read_register(pc_name))
    host_sp = int(newest.read_register(sp_name))

    active_view = ParkedGoroutineView(g, context, thread.ptid, host_pc, host_sp)
    host_frame_filter.enabled = True
    gdb.invalidate_cached_frames()
    try:
        return action()
    finally:
        active_view = None
        host_frame_filter.enabled = False
        gdb.invalidate_cached_frames()


def first_goroutine_frame(g):
    frame = gdb.newest_frame()
    while frame is not None and not frame_on_goroutine_stack(frame, g):
        frame = frame.older()
    return frame


def run_in_goroutine(layout, g, command):
    """Run a gdb command with g's innermost frame selected; restore the selection after."""
    with SelectionRestorer():
        if g.lwp is not None:
            thread = find_thread(g.lwp)
            if thread is None:
                raise GoroError(
                    "goro-gdb: goroutine %d runs on LWP %d, which gdb does not list as a thread"
                    % (g.goid, g.lwp)
                )
            thread.switch()
            gdb.execute(command)
            return
        if not g.is_parked():
            raise GoroError(
                "goro-gdb: goroutine %d is %s but no thread runs it; its stack is unavailable"
                % (g.goid, g.status)
            )

        def action():
            frame = first_goroutine_frame(g)
            if frame is None:
                raise GoroError("goro-gdb: could not unwind goroutine %d's stack" % g.goid)
            frame.select()
            gdb.execute(command)

        show_parked_goroutine(layout, g, action)


# ---- Summaries for `info goroutines` --------------------------------------------------------


def symbol_name(address):
    """Return the demangled ELF symbol that contains address, with its scope, or None.

    gdb's `info symbol` names lambdas with their enclosing scope, which the debug
    information's function names lack ("operator()").
    """
    text = gdb.execute("info symbol 0x%x" % address, to_string=True).strip()
    if text.startswith("No symbol matches"):
        return None
    name = text.rsplit(" in section ", 1)[0]
    return strip_return_type(name.rsplit(" + ", 1)[0])


ANONYMOUS_NAMESPACE = "(anonymous namespace)"


def strip_return_type(name):
    """Drop the return type that demangled names of function templates start with.

    "void goro::sleep<long>(long)" becomes "goro::sleep<long>(long)": the qualified name
    starts after the last space that is outside brackets and before the parameter list.
    """
    # A placeholder without spaces or parentheses keeps "(anonymous namespace)" in one piece.
    placeholder = "\x00"
    text = name.replace(ANONYMOUS_NAMESPACE, placeholder)
    depth = 0
    last_space = -1
    for i, c in enumerate(text):
        if c in "<{[":
            depth += 1
        elif c in ">}]":
            depth -= 1
        elif c == "(" and depth == 0:
            break
        elif c == " " and depth == 0:
            last_space = i
    return text[last_space + 1 :].replace(placeholder, ANONYMOUS_NAMESPACE)


def frame_function(frame):
    """Return the qualified name of the function a frame is in, or None."""
    if frame.type() == gdb.INLINE_FRAME:
        function = frame.function()
        return function.print_name if function is not None else None
    pc = frame.pc()
    newer = frame.newer()
    if newer is not None and newer.type() != gdb.SIGTRAMP_FRAME:
        pc -= 1  # a return address may be the first byte after the calling function
    return symbol_name(pc)


def describe_frame(frame, name):
    sal = frame.find_sal()
    if sal.symtab is not None and sal.line:
        return "%s at %s:%d" % (name, sal.symtab.filename, sal.line)
    return name


def in_sanitizer_runtime(frame):
    path = gdb.solib_name(frame.pc())
    return path is not None and os.path.basename(path).startswith(SANITIZER_LIBRARIES)


def summary_function(frames):
    """Describe the innermost frame outside goro and other libraries as `name at file:line`.

    The libraries are the C++ standard library and the sanitizer runtimes. Falls back on the
    innermost named frame when every frame belongs to them.
    """
    first_named = None
    for frame in frames:
        name = frame_function(frame)
        if name is None:
            continue
        if first_named is None:
            first_named = (frame, name)
        if not name.startswith(LIBRARY_PREFIXES) and not in_sanitizer_runtime(frame):
            return describe_frame(frame, name)
    if first_named is not None:
        return describe_frame(*first_named)
    return "??"


def limited_frames(start, g=None):
    frame = start
    count = 0
    while frame is not None and count < SUMMARY_FRAME_LIMIT:
        if g is None or frame_on_goroutine_stack(frame, g):
            yield frame
            count += 1
        frame = frame.older()


def goroutine_function(layout, g):
    """Describe where g is: its innermost user frame, or its creator if it never ran."""
    try:
        if g.lwp is not None:
            thread = find_thread(g.lwp)
            if thread is None:
                return "?? (LWP %d is not among gdb's threads)" % g.lwp
            with SelectionRestorer():
                thread.switch()
                return summary_function(limited_frames(gdb.newest_frame()))
        if not g.started:
            creator = int(g.gp["creator_pc"])
            name = symbol_name(creator - 1) if creator else None
            return "not started, created by %s" % (name or "??")
        if g.is_parked():
            return show_parked_goroutine(
                layout, g, lambda: summary_function(limited_frames(gdb.newest_frame(), g))
            )
        return "??"
    except gdb.error as e:
        return "?? (%s)" % e


# ---- Commands -------------------------------------------------------------------------------


class InfoGoroutines(gdb.Command):
    """List the goroutines of a goro program: id, state, and the function each one is in.

Usage: info goroutines

One line per live goroutine. '*' marks the goroutine that the selected thread runs. The
state is Go's (runnable, running, syscall, waiting); a waiting goroutine shows its wait
reason, and a running one the LWP of its thread. The function is the innermost frame
outside goro and the C++ standard library, so a goroutine blocked in a channel receive
shows the function that called recv(). Works on live processes and core files."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        if argument.strip():
            raise GoroError("goro-gdb: `info goroutines` takes no arguments")
        require_thread()
        layout = Layout()
        goroutines = all_goroutines(layout)
        selected_lwp = gdb.selected_thread().ptid[1]
        states = [g.state() for g in goroutines]
        id_width = max([len(str(g.goid)) for g in goroutines] + [1])
        state_width = max([len(s) for s in states] + [1])
        for g, state in zip(goroutines, states):
            mark = "*" if g.lwp is not None and g.lwp == selected_lwp else " "
            gdb.write(
                "%s %*d %-*s %s\n"
                % (mark, id_width, g.goid, state_width, state, goroutine_function(layout, g))
            )


class GoroutineCommand(gdb.Command):
    """Run a gdb command in the context of a goroutine.

Usage: goroutine ID COMMAND
       goroutine all COMMAND

ID is a goroutine id as `info goroutines` prints it, or an expression that evaluates to
one. COMMAND is any gdb command, most often `bt`.

For a parked goroutine, the frames are unwound from the registers it saved when it parked.
They are numbered from #1, because frame #0 is the thread that hosts the walk and is
hidden. COMMAND runs with the goroutine's innermost frame selected. For a running
goroutine, COMMAND runs in the thread that runs it. The selected thread and frame are
restored afterwards.

`goroutine all COMMAND` runs COMMAND for every goroutine, each after a
`goroutine ID [state]:` header line."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        words = argument.split(None, 1)
        if len(words) < 2:
            raise GoroError(
                "usage: goroutine ID COMMAND, or goroutine all COMMAND (e.g. goroutine 7 bt)"
            )
        target, command = words
        require_thread()
        layout = Layout()
        saved_past_main = gdb.parameter("backtrace past-main")
        # A thread hosting a walk may be stopped in main(), where gdb would end the
        # backtrace before reaching the goroutine's frames.
        gdb.execute("set backtrace past-main on", to_string=True)
        try:
            if target == "all":
                for g in all_goroutines(layout):
                    gdb.write("goroutine %d [%s]:\n" % (g.goid, g.state()))
                    try:
                        run_in_goroutine(layout, g, command)
                    except (gdb.GdbError, gdb.error) as e:
                        # One goroutine's failure must not hide the others' output.
                        gdb.write("%s\n" % e)
                    gdb.write("\n")
            else:
                run_in_goroutine(layout, find_goroutine(layout, target), command)
        finally:
            value = "on" if saved_past_main else "off"
            gdb.execute("set backtrace past-main %s" % value, to_string=True)


InfoGoroutines()
GoroutineCommand()
