using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.DeviceTree;
using QemuTestKit.Machines.CommandLine;

namespace QemuTestKit.Machines.Runtime;

/// <summary>How to start one machine instance.</summary>
public sealed record MachineStartOptions
{
    /// <summary>The catalog of the spec's binary; fetched through the default <see cref="CatalogCache"/> when null.</summary>
    public QemuCatalog? Catalog { get; init; }

    /// <summary>The machine type's real device tree, for placing devices on its buses; read through the default
    /// <see cref="DeviceTreeCache"/> when null.</summary>
    public MachineDeviceTree? DeviceTree { get; init; }

    public RunMode Mode { get; init; } = RunMode.Normal;

    /// <summary>Where QEMU runs: null for a child process of this one (<see cref="LocalQemuLauncher"/>); a container is another (QemuTestKit.Containers).</summary>
    public IQemuLauncher? Launcher { get; init; }

    /// <summary>A prepared state image to start from; the instance gets a private copy, so the original is never written.</summary>
    public string? StateImageSource { get; init; }

    /// <summary>Prepared disk overlays (one per writable disk, in order) to copy alongside the state image.</summary>
    public IReadOnlyList<string>? DiskOverlaySources { get; init; }

    /// <summary>Snapshot to start from (<c>-loadvm</c>).</summary>
    public string? LoadSnapshot { get; init; }

    /// <summary>
    /// For <see cref="ReadyState.PrepareAsync"/> of a state for normal runs of an x86 machine: keep the guest's RAM in a
    /// file beside the state image instead of inside the snapshot, so a start maps it and loads pages as the guest touches them rather
    /// than reading all of them first (see <see cref="GuestMemoryFile"/>; about 0.17 s less per start for a 512 MiB
    /// Debian guest). Default true; false makes a state that plain <c>qemu-system-* -loadvm ready</c> can load by hand.
    /// States for recorded runs always keep their RAM in the snapshot (bundles carry the state image).
    /// </summary>
    public bool SeparateMemoryFile { get; init; } = true;

    /// <summary>
    /// A normal run started from a snapshot sets the guest's clock to the host's before its first command (typed on
    /// the shell's synchronization line; see docs/fixtures.md, "The guest's clock"). That is one guest process
    /// (<c>date</c>), the run's first, so it pays for TCG translating the fork and exec paths: about 0.2 s on the
    /// Debian guest. False keeps the snapshot's time and skips it. Recorded runs never set it.
    /// </summary>
    public bool SetGuestClock { get; init; } = true;

    /// <summary>A ready state's memory file, mapped copy-on-write by this run (see <see cref="GuestMemoryFile"/>).</summary>
    internal string? MemoryFileSource { get; init; }

    /// <summary>This run boots a ready state (<see cref="ReadyState.PrepareAsync"/>): with <see cref="SeparateMemoryFile"/>, its RAM is a file of the run.</summary>
    internal bool PreparingReadyState { get; init; }

    /// <summary>The machine type's default RAM id when the catalog is not at hand yet (a replay's, from its bundle); see <see cref="RamBackingFile"/>.</summary>
    internal string? DefaultRamId { get; init; }

    /// <summary>The record/replay log: written in record mode, read in replay mode. Defaults to the run directory.</summary>
    public string? ReplayLog { get; init; }

    /// <summary>
    /// Count instructions with this shift in every mode (<c>-icount shift=N</c>). Null: only record and replay runs
    /// count (with shift 5). A ready state meant for recorded runs must be prepared with a shift; runs started from
    /// a ready state always use the shift it was prepared with.
    /// </summary>
    public int? IcountShift { get; init; }

    /// <summary>For replay runs: the snapshot to start the replay from (<c>rrsnapshot</c>), instead of <see cref="LoadSnapshot"/>.</summary>
    public string? ReplaySnapshot { get; init; }

    /// <summary>For recorded runs: take a checkpoint automatically this often (QEMU itself has no such policy).</summary>
    public TimeSpan? CheckpointInterval { get; init; }

    /// <summary>Start with the CPUs stopped.</summary>
    public bool Paused { get; init; }

    /// <summary>Open a gdb stub on a Unix socket in the run directory.</summary>
    public bool GdbStub { get; init; }

    /// <summary>Where run directories are created; defaults to the runtime directory of this user.</summary>
    public string? RunRoot { get; init; }

    /// <summary>How long QEMU may take to open its sockets.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// For <see cref="ReadyState.PrepareAsync"/>: prepare the state for recorded runs (in record mode) or for normal
    /// runs. Null: for recorded runs when <see cref="IcountShift"/> is set. QEMU 7.2 cannot load either kind in the other
    /// kind of run.
    /// </summary>
    public bool? PrepareForRecording { get; init; }

    /// <summary>
    /// What the first console's transcript holds before QEMU prints anything: a replay from a checkpoint passes the
    /// recording's output up to it, so host code reading the console from its start finds the earlier commands.
    /// </summary>
    public byte[]? ConsolePrefix { get; init; }

    /// <summary>For <see cref="ReadyState.PrepareAsync"/>: told every <see cref="BootProgressInterval"/> while the guest boots.</summary>
    public Action<BootProgress>? BootProgress { get; init; }

    public TimeSpan BootProgressInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The snapshot to load is known to carry a replay counter consistent with icount (a ready state for recording).</summary>
    internal bool SnapshotCheckedForRecording { get; init; }

    /// <summary>Keep the run directory (state image, overlays, logs) after disposal, for bundles and post-mortems.</summary>
    public bool KeepRunDirectory { get; init; }
}
