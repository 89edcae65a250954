using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Machines.CommandLine;

/// <summary>Normal runs, record runs and replay runs of the same spec differ only where they must.</summary>
public enum RunMode
{
    Normal,
    Record,
    Replay,
}

/// <summary>The files a run uses, all inside the machine's private run directory (or the bundle, for replay).</summary>
/// <param name="QmpSocket">QEMU listens here for QMP.</param>
/// <param name="SerialPorts">
/// Per serial port, the base path of its pipe pair (<c>serialN</c>: QEMU reads <c>serialN.in</c>, a FIFO, and writes
/// <c>serialN.out</c>, a regular file; see <c>SerialConsole.OpenPipe</c>). A path ending in <c>.sock</c> is a Unix
/// socket the host listens on and QEMU connects to, as replays have it (see RecordingBundler).
/// </param>
/// <param name="StateImage">qcow2 image that stores snapshots (VM state) even for a diskless machine.</param>
/// <param name="DiskImages">Per disk in declaration order: the throw-away overlay the run writes to (the base image for a read-only disk).</param>
public sealed record MachineRunFiles(
    string QmpSocket,
    IReadOnlyList<string> SerialPorts,
    string StateImage,
    IReadOnlyList<string> DiskImages)
{
    /// <summary>The gdb stub's Unix socket, when debugging.</summary>
    public string? GdbSocket { get; init; }

    /// <summary>The record/replay log (<c>rrfile</c>), for record and replay runs.</summary>
    public string? ReplayLog { get; init; }

    /// <summary>
    /// A file that backs the guest's RAM (see <c>GuestMemoryFile</c>): written through while a ready state is prepared
    /// (<see cref="MemoryFileShared"/>), mapped copy-on-write by a start from it. Null: QEMU's own anonymous RAM.
    /// </summary>
    public string? MemoryFile { get; init; }

    /// <summary>The guest writes into <see cref="MemoryFile"/> (preparing a ready state) rather than into a private copy of it.</summary>
    public bool MemoryFileShared { get; init; }

    /// <summary>
    /// Whether a run loads its start snapshot over QMP after starting paused rather than with <c>-loadvm</c>: with a
    /// private memory file, the snapshot holds no RAM and QEMU must be told so first (see <c>GuestMemoryFile</c>).
    /// </summary>
    public bool LoadsSnapshotAfterStart(string? loadSnapshot) => loadSnapshot is not null && MemoryFile is not null && !MemoryFileShared;

    /// <summary>Whether a serial port path is a Unix socket (the older transport) rather than a pipe pair's base.</summary>
    public static bool IsSerialSocket(string port) => port.EndsWith(".sock", StringComparison.Ordinal);
}

/// <summary>How to run a spec: mode, snapshot to start from, paused or not.</summary>
public sealed record CommandLineOptions
{
    public RunMode Mode { get; init; } = RunMode.Normal;

    /// <summary>Snapshot in the state image to start from (<c>-loadvm</c>), for example "ready".</summary>
    public string? LoadSnapshot { get; init; }

    /// <summary>
    /// icount shift (<c>-icount shift=N</c>, 2^N ns of virtual time per instruction). Record and replay always count
    /// instructions (5 when null); a normal run counts them only when this is set, which it must be for a run that
    /// loads a snapshot saved with icount (a ready state made for recording).
    /// </summary>
    public int? IcountShift { get; init; }

    /// <summary>The shift QEMU's record/replay uses when none is given.</summary>
    public const int DefaultRecordIcountShift = 5;

    /// <summary>Record/replay <c>rrsnapshot</c>: saved at the start of recording, loaded at the start of replay.</summary>
    public string? ReplaySnapshot { get; init; }

    /// <summary>Start with the CPUs stopped (<c>-S</c>), for a debugger to attach first.</summary>
    public bool Paused { get; init; }

    /// <summary>
    /// The machine type's real device tree (<c>DeviceTreeCache</c>): added devices get explicit buses and addresses on
    /// the buses it shows. Without it, QEMU places them (its first-free choice).
    /// </summary>
    public MachineDeviceTree? DeviceTree { get; init; }

    /// <summary>A gdb stub on a TCP port of 127.0.0.1 instead of the Unix socket in <see cref="MachineRunFiles.GdbSocket"/>.</summary>
    public int? GdbTcpPort { get; init; }
}
