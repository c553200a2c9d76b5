# gdb commands for gort programs, as Go's src/runtime/runtime-gdb.py gives
# for Go programs:
#
#   (gdb) source tools/gdb/gort.py
#   (gdb) info goroutines            every goroutine: id, state, wait reason
#   (gdb) goroutine 7 bt             a gdb command in goroutine 7's frame
#   (gdb) goroutine all bt           ... in every goroutine's
#
# It needs no debug information: the runtime publishes where its goroutine
# records lie and their layout in one C symbol, gort_debugger
# (sched/debugger.hpp). A parked or queued goroutine's registers are in the
# context its last switch saved: `goroutine N cmd` loads its stack pointer,
# frame pointer and pc into the selected thread, runs cmd, and puts the
# thread's own back, as runtime-gdb.py does. A running goroutine is looked
# at on its own thread instead.

import struct

import gdb

STATES = {0: "idle", 1: "runnable", 2: "running", 3: "waiting", 4: "dead"}
FIELDS = (
    "version allg_base allg_count g_stride g_id g_status g_wait_reason g_waitsince g_ctx g_stack_lo g_stack_hi g_m m_tid ctx_fp ctx_pc ctx_size"
).split()


def _read(addr, size):
    return bytes(gdb.selected_inferior().read_memory(addr, size))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


def _u32(addr):
    return struct.unpack("<I", _read(addr, 4))[0]


def _cstring(addr, limit=128):
    if addr == 0:
        return ""
    raw = _read(addr, limit)
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _layout():
    try:
        at = int(gdb.parse_and_eval("(unsigned long)&gort_debugger"))
    except gdb.error:
        raise gdb.GdbError("gort.py: no gort_debugger symbol: is this a gort program?")
    words = struct.unpack("<%dQ" % len(FIELDS), _read(at, 8 * len(FIELDS)))
    return dict(zip(FIELDS, words))


class Goroutine:
    def __init__(self, lay, at):
        self.lay = lay
        self.at = at
        self.id = _u64(at + lay["g_id"])
        self.status = _u32(at + lay["g_status"])
        self.state = STATES.get(self.status, "unknown(%d)" % self.status)
        self.reason = _cstring(_u64(at + lay["g_wait_reason"])) if self.status == 3 else ""
        self.ctx = _u64(at + lay["g_ctx"])
        self.m = _u64(at + lay["g_m"])

    def saved_registers(self):
        """sp, fp and pc where its last switch left it."""
        lay = self.lay
        return (self.ctx + lay["ctx_size"], _u64(self.ctx + lay["ctx_fp"]), _u64(self.ctx + lay["ctx_pc"]))

    def thread(self):
        """The gdb thread running it, if it runs."""
        if self.status != 2 or self.m == 0:
            return None
        tid = _u32(self.m + self.lay["m_tid"])
        for t in gdb.selected_inferior().threads():
            if t.ptid[1] == tid:
                return t
        return None


def goroutines():
    lay = _layout()
    if lay["allg_base"] == 0:
        return []
    count = _u64(lay["allg_count"])
    out = []
    for i in range(count):
        g = Goroutine(lay, lay["allg_base"] + i * lay["g_stride"])
        if g.status not in (0, 4):
            out.append(g)
    return out


class InfoGoroutines(gdb.Command):
    """List every goroutine: id, state and wait reason ('*': running on a thread)."""

    def __init__(self):
        gdb.Command.__init__(self, "info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        for g in goroutines():
            mark = "*" if g.status == 2 else " "
            line = "%s %d %s" % (mark, g.id, g.state)
            if g.reason:
                line += " [%s]" % g.reason
            print(line)


class GoroutineCommand(gdb.Command):
    """Run a gdb command in a goroutine's frame: goroutine <id>|all <command>.

    Inspect only: the registers put in place are the goroutine's, and the
    thread's own come back once the command is done."""

    def __init__(self):
        gdb.Command.__init__(self, "goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) != 2:
            raise gdb.GdbError("usage: goroutine <id>|all <command>")
        which, cmd = parts
        gs = goroutines()
        if which != "all":
            goid = int(gdb.parse_and_eval(which))
            gs = [g for g in gs if g.id == goid]
            if not gs:
                raise gdb.GdbError("no goroutine %d" % goid)
        for g in gs:
            print("goroutine %d [%s]:" % (g.id, g.reason or g.state))
            self.run_in(g, cmd)

    @staticmethod
    def run_in(g, cmd):
        if g.status == 2:
            t = g.thread()
            if t is None:
                print("(running; its thread is not known)")
                return
            here = gdb.selected_thread()
            try:
                t.switch()
                gdb.execute(cmd)
            finally:
                here.switch()
            return
        if g.ctx == 0:
            print("(not started: no stack yet)")
            return
        sp, fp, pc = g.saved_registers()
        frame = gdb.selected_frame()
        # Registers can only be set in the innermost frame.
        gdb.execute("select-frame 0")
        saved = {r: int(gdb.parse_and_eval("$" + r)) for r in ("rsp", "rbp", "rip")}
        try:
            gdb.execute("set $rsp = %d" % sp)
            gdb.execute("set $rbp = %d" % fp)
            gdb.execute("set $rip = %d" % pc)
            gdb.execute(cmd)
        finally:
            gdb.execute("select-frame 0")
            for r, v in saved.items():
                gdb.execute("set $%s = %d" % (r, v))
            try:
                frame.select()
            except gdb.error:
                pass


InfoGoroutines()
GoroutineCommand()
