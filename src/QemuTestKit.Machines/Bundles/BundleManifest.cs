using System.Text.Json.Serialization;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// <c>bundle.json</c>: everything needed to replay a recorded run exactly, on another machine, and to prove it
/// replayed faithfully. Paths inside the bundle are relative to the bundle directory.
/// </summary>
public sealed record BundleManifest
{
    /// <summary>Identifies the file as a QemuTestKit replay bundle (a bundle of any other kind is refused).</summary>
    public const string KindValue = "qemutestkit-replay";

    /// <summary>Bumped on any incompatible change; a reader refuses a newer schema with a clear message.</summary>
    public const int CurrentSchemaVersion = 1;

    public string Kind { get; init; } = KindValue;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The test that recorded the run, when known.</summary>
    public BundleTest? Test { get; init; }

    public required QemuBuild Qemu { get; init; }

    /// <summary>The validated spec of the machine, with the absolute paths it ran with.</summary>
    public required MachineSpec Spec { get; init; }

    /// <summary>
    /// The exact replay argument array; <c>{bundle}</c> stands for the bundle directory and <c>{run}</c> for the
    /// replay's private run directory (sockets).
    /// </summary>
    public required IReadOnlyList<string> ReplayArguments { get; init; }

    public int IcountShift { get; init; } = 5;

    /// <summary>
    /// The machine type's default RAM id in the recorded build (<c>default-ram-id</c> in query-machines), so a local
    /// replay can map the RAM from a file (<see cref="Runtime.RamBackingFile"/>) before the build's catalog is read. Null
    /// in bundles written before it was kept: their replays keep QEMU's own RAM.
    /// </summary>
    public string? DefaultRamId { get; init; }

    /// <summary>The snapshot the recording started from (<c>-loadvm</c>), or null for a recording from power-on.</summary>
    public string? StartSnapshot { get; init; }

    /// <summary>Named points of the recording, in order.</summary>
    public IReadOnlyList<Checkpoint> Checkpoints { get; init; } = [];

    public required BundleTranscript Transcript { get; init; }

    public BundleTimings Timings { get; init; } = new();

    /// <summary>Every file in the bundle, with its size and sha256.</summary>
    public IReadOnlyList<BundleFile> Files { get; init; } = [];

    /// <summary>Files the replay needs that were too large to copy, referenced by their original path and sha256.</summary>
    public IReadOnlyList<ExternalFile> ExternalFiles { get; init; } = [];
}

/// <param name="Name">The test's display name.</param>
/// <param name="Outcome">passed, failed, ...</param>
/// <param name="FailureMessage">The failure message, when the test failed.</param>
public sealed record BundleTest(string Name, string? Outcome = null, string? FailureMessage = null);

/// <param name="File">The raw console bytes, relative to the bundle.</param>
/// <param name="Length">Its length in bytes.</param>
/// <param name="Sha256">Its sha256.</param>
/// <param name="ChunksFile">Per chunk: byte offset, host time and icount (maps a console position to a moment of the recording).</param>
public sealed record BundleTranscript(string File, long Length, string Sha256, string? ChunksFile = null);

public sealed record BundleTimings(double RecordSeconds = 0, DateTimeOffset? StartedAt = null, DateTimeOffset? EndedAt = null);

/// <param name="Path">Relative to the bundle directory, with '/' separators.</param>
/// <param name="Role">What the file is: replay-log, state-image, disk-overlay, transcript, transcript-chunks, stderr, screenshot, kernel, initrd, firmware, disk-base.</param>
public sealed record BundleFile(string Path, long Size, string Sha256, string Role);

/// <param name="OriginalPath">Where the file was when the run was recorded.</param>
public sealed record ExternalFile(string OriginalPath, long Size, string Sha256, string Role)
{
    /// <summary>
    /// The path the file would have had inside the bundle had it been copied (the source's bundle path), or null. A
    /// <c>{bundle}/&lt;path&gt;</c> reference to it in <see cref="BundleManifest.ReplayArguments"/> stands for wherever the
    /// external file is found at replay time.
    /// </summary>
    public string? BundlePath { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BundleManifest))]
public sealed partial class BundleJsonContext : JsonSerializerContext;
