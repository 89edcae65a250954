using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// A machine booted once to its ready condition and saved as the snapshot <c>ready</c>: a state image (plus disk
/// overlays) and a manifest naming the spec and the QEMU binary it was made with. Instances start from private copies.
/// </summary>
/// <param name="Directory">Where the state lives.</param>
/// <param name="SpecHash">sha256 of the spec's JSON: a different spec means prepare again.</param>
/// <param name="Binary">The QEMU binary's identity when the state was saved: a different binary cannot load it.</param>
/// <param name="ForRecording">
/// Prepared in record mode, for recorded runs (see <see cref="PrepareAsync"/>). QEMU 7.2 loads such a state only in
/// record and replay runs; a state prepared in a normal run only in normal runs.
/// </param>
/// <param name="MemoryFile">
/// The guest's RAM at the <c>ready</c> snapshot, when it is kept beside the state image rather than in it (normal
/// states, <see cref="MachineStartOptions.SeparateMemoryFile"/>; see <see cref="GuestMemoryFile"/>); starts map it
/// copy-on-write and never write it.
/// </param>
public sealed record ReadyState(
    string Directory,
    string MachineName,
    string SpecHash,
    BinaryIdentity Binary,
    string QemuVersion,
    string StateImage,
    IReadOnlyList<string> DiskOverlays,
    double BootSeconds,
    DateTimeOffset CreatedAt,
    int? IcountShift = null,
    bool ForRecording = false,
    string? MemoryFile = null)
{
    public const string SnapshotName = "ready";

    /// <summary>The snapshot a recorded cold boot saves at the ready line; preparing replaces it with <see cref="SnapshotName"/>.</summary>
    internal const string BootSnapshotName = "qtk-boot";
    public const string ManifestFile = "ready.json";

    /// <summary>The spec hash the runtime compares; stable for equal specs.</summary>
    public static string HashOf(MachineSpec spec) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(MachineSpecJson.Serialize(spec)))).ToLowerInvariant();

    /// <summary>
    /// Boots <paramref name="spec"/> cold, waits for its ready pattern, saves the <c>ready</c> snapshot and stores the
    /// state under <paramref name="stateDirectory"/>, replacing any earlier one atomically. With
    /// <see cref="MachineStartOptions.IcountShift"/> set (or <see cref="MachineStartOptions.PrepareForRecording"/>) the
    /// state is made for recorded runs, in record mode (see <see cref="PrepareForRecordingAsync"/>). QEMU runs where
    /// <see cref="MachineStartOptions.Launcher"/> runs it, and the state is stored on this host either way.
    /// </summary>
    public static async Task<ReadyState> PrepareAsync(MachineSpec spec, string stateDirectory, MachineStartOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Ready.Pattern is null)
        {
            throw new MachineStartException($"machine '{spec.Name}' cannot be prepared: it declares no ready pattern");
        }

        options ??= new MachineStartOptions();
        var catalog = await (options.Launcher ?? LocalQemuLauncher.Instance).CatalogAsync(spec, options, recording: false, cancellationToken).ConfigureAwait(false);
        var forRecording = options.PrepareForRecording ?? (options.IcountShift is not null || options.Mode != RunMode.Normal);
        options = options with
        {
            Catalog = catalog,
            Mode = forRecording ? RunMode.Record : RunMode.Normal,
            IcountShift = forRecording ? options.IcountShift ?? CommandLineOptions.DefaultRecordIcountShift : options.IcountShift,
            KeepRunDirectory = true,
            StateImageSource = null,
            DiskOverlaySources = null,
            MemoryFileSource = null,
            PreparingReadyState = true,
            LoadSnapshot = null,
            ReplaySnapshot = null,
            ReplayLog = null,
            CheckpointInterval = null,
            Paused = false,
        };
        for (var attempt = 1; ; attempt++)
        {
            var state = await PrepareOnceAsync(spec, stateDirectory, options, catalog, forRecording, attempt, cancellationToken).ConfigureAwait(false);
            if (forRecording || !RiscvSnapshotTimers.LostAcrossSnapshots(catalog)
                || await RiscvTimers.AnswersAsync(state, spec, options with { KeepRunDirectory = false }, cancellationToken).ConfigureAwait(false))
            {
                return state;
            }

            if (attempt == RiscvTimers.Attempts)
            {
                throw new MachineStartException(string.Create(CultureInfo.InvariantCulture,
                    $"machine '{spec.Name}' cannot be prepared: a start from its ready snapshot did not answer a command in {RiscvTimers.AnswerTimeout.TotalSeconds:0} s, ") +
                    $"{attempt} times (QEMU {catalog.QemuVersion} keeps no RISC-V timer across a snapshot, and the guest was not idle when it was saved); " +
                    "prepare it again on a less busy machine, or use QEMU 10.2 or later");
            }
        }
    }

    private static async Task<ReadyState> PrepareOnceAsync(MachineSpec spec, string stateDirectory, MachineStartOptions options, QemuCatalog catalog,
        bool forRecording, int attempt, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var machine = await QemuMachine.StartAsync(spec, options, cancellationToken).ConfigureAwait(false);
        try
        {
            await using (machine.ConfigureAwait(false))
            {
                await BootProgress.WhileAsync(machine, stopwatch, options.BootProgress, options.BootProgressInterval,
                    () => machine.WaitUntilReadyAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
                var bootSeconds = stopwatch.Elapsed.TotalSeconds;
                await RiscvTimers.SettleAsync(catalog, attempt, cancellationToken).ConfigureAwait(false);
                await machine.SaveSnapshotAsync(forRecording ? BootSnapshotName : SnapshotName, cancellationToken).ConfigureAwait(false);
                await machine.ShutdownAsync().ConfigureAwait(false);
                await machine.Host.CollectRunFilesAsync(machine.Files, machine.Run.StderrLog, cancellationToken).ConfigureAwait(false);
                return forRecording
                    ? await PrepareForRecordingAsync(spec, catalog, machine, options, stateDirectory, bootSeconds, cancellationToken).ConfigureAwait(false)
                    : await StoreAsync(spec, catalog, machine, stateDirectory, bootSeconds, forRecording, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            // Kept for StoreAsync to move files out of (and gone after it); a boot that failed leaves nothing either.
            DeleteKeptRunDirectory(machine.RunDirectoryPath);
        }
    }

    /// <summary>
    /// The second half of preparing for recorded runs. QEMU 7.2 keeps the replay's own instruction counter in its
    /// snapshots and advances it in 32-bit steps: a recording that starts from a snapshot saved outside record mode at
    /// instruction count R begins with one step of R truncated to 32 bits, so replay-break, replay-seek and reverse steps
    /// never reach their target once R &gt;= 2^31 (our guest is ready at ~6.3e9), and the recording aborts when
    /// R mod 2^32 &gt;= 2^31. So the cold boot above ran in record mode and saved <see cref="BootSnapshotName"/> with a
    /// consistent counter. That snapshot also holds the position in the boot's replay log, where a replay that loads
    /// it would seek in its own log; so a second QEMU loads it in record mode with <c>rrsnapshot=ready</c>, which saves
    /// <c>ready</c> at the very start of a fresh log. Every recording that starts with <c>-loadvm ready</c> has its first
    /// event at that same position, so its replay can load <c>ready</c> too (measured; the boot snapshot is then
    /// deleted: replay-seek would pick it as the nearest snapshot and read the wrong log).
    /// That second QEMU starts running, as recorded runs do (and as it did in containers): from QEMU 9.0 a running
    /// <c>-loadvm</c> resumes the machine (<c>load_snapshot_resume</c>) before <c>rrsnapshot</c> is saved, so <c>ready</c>
    /// is then saved as a recorded run's machine is; on 7.2 the machine resumes only afterwards, and the state saved is
    /// the same either way.
    /// </summary>
    private static async Task<ReadyState> PrepareForRecordingAsync(MachineSpec spec, QemuCatalog catalog, QemuMachine boot, MachineStartOptions options,
        string stateDirectory, double bootSeconds, CancellationToken cancellationToken)
    {
        var writableOverlays = boot.Files.DiskImages.Where((_, i) => !spec.Disks[i].ReadOnly).ToArray();
        var rebase = await QemuMachine.StartAsync(spec, options with
        {
            StateImageSource = boot.Files.StateImage,
            DiskOverlaySources = writableOverlays,
            LoadSnapshot = BootSnapshotName,
            ReplaySnapshot = SnapshotName,
            SnapshotCheckedForRecording = true,
        }, cancellationToken).ConfigureAwait(false);
        await using (rebase.ConfigureAwait(false))
        {
            try
            {
                await rebase.ShutdownAsync().ConfigureAwait(false);
                await rebase.Host.CollectRunFilesAsync(rebase.Files, rebase.Run.StderrLog, cancellationToken).ConfigureAwait(false);
                var qemuImg = new QemuImg();
                foreach (var image in rebase.Files.DiskImages.Where((_, i) => !spec.Disks[i].ReadOnly).Prepend(rebase.Files.StateImage))
                {
                    await qemuImg.DeleteSnapshotAsync(image, BootSnapshotName, cancellationToken).ConfigureAwait(false);
                }

                return await StoreAsync(spec, catalog, rebase, stateDirectory, bootSeconds, forRecording: true, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                DeleteKeptRunDirectory(rebase.RunDirectoryPath); // kept for StoreAsync to move files out of; never left behind
            }
        }
    }

    /// <summary>
    /// Moves a prepared machine's state image and overlays into <paramref name="stateDirectory"/> atomically, with
    /// ready.json; removes the run directory. <paramref name="machine"/> has been shut down, with its run directory
    /// kept (<see cref="MachineStartOptions.KeepRunDirectory"/>) and its run files collected to this host.
    /// </summary>
    private static async Task<ReadyState> StoreAsync(MachineSpec spec, QemuCatalog catalog, QemuMachine machine, string stateDirectory,
        double bootSeconds, bool forRecording, CancellationToken cancellationToken)
    {
        var target = Path.GetFullPath(stateDirectory);
        var parent = Path.GetDirectoryName(target)!;
        System.IO.Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        System.IO.Directory.CreateDirectory(staging);
        try
        {
            File.Move(machine.Files.StateImage, Path.Combine(staging, "state.qcow2"));
            DiskFlush.File(Path.Combine(staging, "state.qcow2"));
            var overlays = new List<string>();
            for (var i = 0; i < machine.Files.DiskImages.Count; i++)
            {
                if (spec.Disks[i].ReadOnly)
                {
                    continue;
                }

                var name = Path.GetFileName(machine.Files.DiskImages[i]);
                File.Move(machine.Files.DiskImages[i], Path.Combine(staging, name));
                DiskFlush.File(Path.Combine(staging, name));
                overlays.Add(name);
            }

            if (machine.Files.MemoryFile is { } memory && machine.Files.MemoryFileShared)
            {
                GuestMemoryFile.CopyNonZeroPages(memory, Path.Combine(staging, GuestMemoryFile.FileName));
                DiskFlush.File(Path.Combine(staging, GuestMemoryFile.FileName));
            }

            var state = new ReadyState(target, spec.Name, HashOf(spec), catalog.BinaryIdentity, catalog.QemuVersion,
                Path.Combine(target, "state.qcow2"), overlays.Select(o => Path.Combine(target, o)).ToArray(), Math.Round(bootSeconds, 2), DateTimeOffset.UtcNow,
                machine.IcountShift, forRecording,
                machine.Files.MemoryFileShared ? Path.Combine(target, GuestMemoryFile.FileName) : null);
            await File.WriteAllTextAsync(Path.Combine(staging, ManifestFile), JsonSerializer.Serialize(state, ReadyStateJsonContext.Default.ReadyState),
                cancellationToken).ConfigureAwait(false);
            if (System.IO.Directory.Exists(target))
            {
                System.IO.Directory.Delete(target, recursive: true);
            }

            System.IO.Directory.Move(staging, target);
            return state;
        }
        catch
        {
            System.IO.Directory.Delete(staging, recursive: true);
            throw;
        }
        finally
        {
            DeleteKeptRunDirectory(machine.RunDirectoryPath);
        }
    }

    /// <summary>Reads a prepared state, or null when there is none.</summary>
    public static ReadyState? Load(string stateDirectory)
    {
        var manifest = Path.Combine(stateDirectory, ManifestFile);
        if (!File.Exists(manifest))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(manifest), ReadyStateJsonContext.Default.ReadyState);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Why this state cannot start <paramref name="spec"/> on <paramref name="catalog"/>'s binary, or null when it can.</summary>
    public string? MismatchWith(MachineSpec spec, QemuCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(catalog);
        if (SpecHash != HashOf(spec))
        {
            return $"the ready state of machine '{spec.Name}' was prepared from a different spec";
        }

        if (Binary != catalog.BinaryIdentity || QemuVersion != catalog.QemuVersion)
        {
            return $"the ready state of machine '{spec.Name}' was prepared with QEMU {QemuVersion} at {Binary.Path}, not the current {catalog.QemuVersion} at {catalog.Binary}";
        }

        return !File.Exists(StateImage) ? $"the ready state image {StateImage} is missing"
            : MemoryFile is not null && !File.Exists(MemoryFile) ? $"the ready state's memory file {MemoryFile} is missing"
            : null;
    }

    /// <summary>
    /// Starts a new instance from a private copy of this state, at the <c>ready</c> snapshot, where
    /// <see cref="MachineStartOptions.Launcher"/> runs QEMU: with this state, or one that launcher made from it
    /// (<see cref="IQemuLauncher.UsableReadyStateAsync"/>).
    /// </summary>
    /// <exception cref="ReadyStateMismatchException">The state was made from another spec or QEMU binary, or for the other kind of run: prepare again.</exception>
    public async Task<QemuMachine> StartAsync(MachineSpec spec, MachineStartOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        options ??= new MachineStartOptions();
        var launcher = options.Launcher ?? LocalQemuLauncher.Instance;
        var catalog = await launcher.CatalogAsync(spec, options, recording: options.Mode != RunMode.Normal, cancellationToken).ConfigureAwait(false);
        options = options with { Catalog = catalog };
        var state = await launcher.UsableReadyStateAsync(spec, this, options, cancellationToken).ConfigureAwait(false);
        if (state.Problem(spec, options.Mode) is { } problem)
        {
            throw new ReadyStateMismatchException(problem);
        }

        return await QemuMachine.StartAsync(spec, options with
        {
            StateImageSource = state.StateImage,
            DiskOverlaySources = state.DiskOverlays,
            MemoryFileSource = state.MemoryFile,
            LoadSnapshot = SnapshotName,
            IcountShift = state.IcountShift,
            SnapshotCheckedForRecording = state.ForRecording,
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Why a run in <paramref name="mode"/> cannot start from this state (QEMU could not load it, or its recording would be unusable).</summary>
    private string? Problem(MachineSpec spec, RunMode mode)
    {
        if (mode == RunMode.Normal)
        {
            return ForRecording
                ? $"the ready state of machine '{spec.Name}' was prepared for recorded runs (in record mode), and QEMU cannot load it in a normal run; " +
                  "start it with Mode = RunMode.Record, or prepare a second ready state without IcountShift for normal runs"
                : null;
        }

        if (IcountShift is null)
        {
            return $"the ready state of machine '{spec.Name}' was prepared without icount, and a recorded run cannot start from it; " +
                "prepare it again with MachineStartOptions.IcountShift set (for example 5)";
        }

        // States made by earlier versions: a normal run with icount. Recording from them is what aborts QEMU 7.2 or
        // leaves replay-break unusable (see PrepareForRecordingAsync), so they are refused.
        return ForRecording
            ? null
            : $"the ready state of machine '{spec.Name}' was prepared in a normal run, and QEMU 7.2 cannot record usefully from it: its replay counter " +
              "would start 2^32 behind the instruction count (replay-break and reverse steps never stop; past 2^31 the recording aborts); prepare it again";
    }

    /// <summary>
    /// Removes a run directory that a preparing machine kept (<see cref="MachineStartOptions.KeepRunDirectory"/>), if it
    /// is still there: after <see cref="StoreAsync"/>, or when preparing failed.
    /// </summary>
    private static void DeleteKeptRunDirectory(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>A ready state does not belong to this spec or QEMU binary.</summary>
public sealed class ReadyStateMismatchException : QemuTestKit.Introspection.QemuTestKitException
{
    public ReadyStateMismatchException(string message) : base(message) { }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(ReadyState))]
internal sealed partial class ReadyStateJsonContext : JsonSerializerContext;
