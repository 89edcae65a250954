using System.Diagnostics;
using System.Globalization;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Recording;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Containers;

/// <summary>How to replay a bundle recorded in a container.</summary>
public sealed record ContainerReplayOptions
{
    /// <summary>The image to replay in; null for the one the bundle names (it must hold the recorded QEMU build either way).</summary>
    public string? Image { get; init; }

    public Uri? DockerEndpoint { get; init; }

    /// <summary>Give up after this long, counted from the call; null for <see cref="Replayer.DefaultTimeout"/>.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>The checkpoint to start from (loaded through <c>rrsnapshot</c>, as on the host); null for the start.</summary>
    public string? FromCheckpoint { get; init; }

    /// <summary>Called once QEMU is replaying in its container (as <see cref="ReplayOptions.Started"/> on the host).</summary>
    public Action<QemuMachine>? Started { get; init; }
}

/// <param name="Where">Where it replayed: "container image NAME (id ...)".</param>
/// <param name="From">The checkpoint it started from, or where the recording starts.</param>
public sealed record ContainerReplayResult(bool Identical, long ComparedBytes, long ExpectedBytes, string Where, TimeSpan Elapsed, string From = "the start")
{
    public string Verdict => Identical
        ? string.Create(CultureInfo.InvariantCulture, $"replay: identical ({ComparedBytes} bytes from {From}, in {Where})")
        : string.Create(CultureInfo.InvariantCulture, $"replay: DIVERGED after {ComparedBytes} of {ExpectedBytes} bytes from {From} (in {Where})");
}

/// <summary>
/// Replays a bundle in a container of the image it was recorded in (the replay needs the recorded QEMU build, which the
/// image pins), from the start of the recording, and compares the replayed console with the recorded one byte by byte.
/// </summary>
public static class ContainerReplayer
{
    /// <summary>The image a bundle names (<c>name@sha256:...</c> in <see cref="BundleQemu.ContainerImage"/>), or null for a bundle recorded on a host.</summary>
    public static (string Name, string Id)? RecordedImage(BundleManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var value = manifest.Qemu.ContainerImage;
        var at = value?.LastIndexOf("@sha256:", StringComparison.Ordinal) ?? -1;
        return value is null || at < 0 ? null : (value[..at], value[(at + 1)..]);
    }

    /// <summary>
    /// This host's QEMU binary when it is byte for byte the build <paramref name="manifest"/> was recorded with (the
    /// sha256 check a host replay makes), else null: then only the recorded image can replay it.
    /// </summary>
    /// <param name="qemu">A binary to use instead of the recorded path.</param>
    public static string? HostBinaryOfRecordedBuild(BundleManifest manifest, string? qemu = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return ImageCatalog.HostBuild(qemu ?? manifest.Qemu.Binary) is { } host && string.Equals(host.Sha256, manifest.Qemu.Sha256, StringComparison.OrdinalIgnoreCase)
            ? host.Path
            : null;
    }

    /// <exception cref="QemuContainerException">The engine or image is missing, or the image holds another QEMU build.</exception>
    /// <exception cref="ReplayStuckException">The replay made no end within <see cref="ContainerReplayOptions.Timeout"/>.</exception>
    public static async Task<ContainerReplayResult> ReplayAsync(ReplayBundle bundle, ContainerReplayOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        ArgumentNullException.ThrowIfNull(options);
        var limit = options.Timeout ?? Replayer.DefaultTimeout(bundle.Manifest);
        QemuMachine? started = null;
        try
        {
            return await ReplayDeadline.RunAsync(limit,
                ct => ReplayInContainerAsync(bundle, options with { Started = m => { started = m; options.Started?.Invoke(m); } }, ct),
                () => Replayer.Stuck(limit, started?.Console.Transcript.Length, bundle.Manifest.Transcript.Length, " in the container"),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Docker.DotNet.DockerApiException e)
        {
            // The container went away under the replay (docker rm, a pruning job, the engine restarting): the user's
            // fix is to run it again, not to read Docker.DotNet's exception type.
            throw new QemuContainerException(
                $"the Docker engine lost the container replaying {bundle.Source} ({(int)e.StatusCode} {e.StatusCode}: {e.ResponseBody?.Trim()}; removed, or the engine restarted?): replay it again");
        }
    }

    private static async Task<ContainerReplayResult> ReplayInContainerAsync(ReplayBundle bundle, ContainerReplayOptions options, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var manifest = bundle.Manifest;
        var recorded = RecordedImage(manifest);
        var imageName = options.Image ?? recorded?.Name
            ?? throw new QemuContainerException($"bundle {bundle.Source} was not recorded in a container: name an image to replay it in (--image)");
        if (manifest.ExternalFiles.Count > 0)
        {
            throw new QemuContainerException($"bundle {bundle.Source} references files outside it; replaying such a bundle in a container is not supported yet: replay it on the host");
        }

        var (endpoint, image, catalog) = await QemuContainerMachines.ConnectAsync(new ContainerMachineOptions { Image = imageName, DockerEndpoint = options.DockerEndpoint },
            cancellationToken).ConfigureAwait(false);
        if (!string.Equals(image.QemuSha256, manifest.Qemu.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new QemuContainerException(
                $"bundle {bundle.Source} was recorded with QEMU {manifest.Qemu.Package} (sha256 {manifest.Qemu.Sha256[..12]}...), but image {image.Name} holds {image.QemuPackage ?? "another build"}: replay it in the recorded image {manifest.Qemu.ContainerImage}");
        }

        var inside = QemuPorts.RunDirectory;
        var mappings = new List<(string Host, string Container)>();
        foreach (var file in manifest.Files)
        {
            var path = bundle.PathOf(file.Path);
            // The state image and overlays are the replay's to write: they go to the run directory; every other file
            // keeps its host path, which is what the expanded arguments name.
            var target = file.Role is BundleRoles.StateImage or BundleRoles.DiskOverlay ? $"{inside}/{Path.GetFileName(file.Path)}" : path;
            mappings.Add((path, target));
        }

        var checkpoint = manifest.CheckpointToReplayFrom(options.FromCheckpoint);
        var serialPorts = Math.Max(1, manifest.Spec.SerialConsoles);
        var arguments = TcpEndpoints.Rewrite(FromCheckpoint(bundle.ExpandReplayArguments(inside), checkpoint), serialPorts);
        var where = $"container image {image.Name} ({DockerEngine.Short(image.Id)})";
        var run = RunDirectory.Create("replay");
        var machine = await QemuContainerMachines.AttachContainerAsync(manifest.Spec, catalog, endpoint, image, new ContainerMachineOptions { Image = image.Name },
            run, arguments, mappings, serialPorts, (qmp, consoles) => new MachineRunFiles(qmp, consoles, run.File("state.qcow2"), []),
            new MachineStartOptions { Catalog = catalog, Mode = RunMode.Replay }, cancellationToken).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            // From a checkpoint, the console replays what the recording printed after it.
            var transcript = await File.ReadAllBytesAsync(bundle.TranscriptPath, cancellationToken).ConfigureAwait(false);
            var offset = checkpoint?.TranscriptOffset ?? 0;
            if (offset > transcript.Length)
            {
                throw new ReplayException($"checkpoint '{checkpoint!.Name}' of {bundle.Source} lies beyond the end of its transcript: the bundle is damaged");
            }

            var expected = transcript[(int)offset..];
            options.Started?.Invoke(machine);
            var compared = await FollowAsync(machine, expected, cancellationToken).ConfigureAwait(false);
            if (machine.Host is ContainerQemuHost host && !await host.ExistsAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new QemuContainerException($"the container replaying {bundle.Source} was removed while it ran (docker rm, a pruning job, the engine restarting?): replay it again");
            }

            return new ContainerReplayResult(compared == expected.Length && Matches(machine, expected), compared, expected.Length, where, stopwatch.Elapsed,
                checkpoint?.Name ?? manifest.StartSnapshot ?? "the start");
        }
    }

    /// <summary>As on the host: QEMU loads a checkpoint through rrsnapshot (which also positions the replay log), not -loadvm.</summary>
    private static List<string> FromCheckpoint(IReadOnlyList<string> recorded, Checkpoint? checkpoint)
    {
        var arguments = new List<string>(recorded);
        if (checkpoint is null)
        {
            return arguments;
        }

        var loadvm = arguments.IndexOf("-loadvm");
        if (loadvm >= 0)
        {
            arguments.RemoveRange(loadvm, 2);
        }

        var icount = arguments.IndexOf("-icount") + 1;
        arguments[icount] = QemuOptionValue.Join(arguments[icount], ("rrsnapshot", checkpoint.Name));
        return arguments;
    }

    /// <summary>Waits until the replay log is exhausted (or QEMU exits) and the console is drained; returns the bytes that match.</summary>
    private static async Task<long> FollowAsync(QemuMachine machine, byte[] expected, CancellationToken ct)
    {
        while (true)
        {
            var transcript = machine.Console.Transcript;
            if (transcript.Length > expected.Length || !Matches(machine, expected, prefixOnly: true))
            {
                return CommonPrefix(transcript.GetBytes(), expected);
            }

            var ended = machine.HasExited;
            if (!ended)
            {
                try
                {
                    ended = await ReplayIcount.ModeAsync(machine.Qmp, ct).ConfigureAwait(false) == "none";
                }
                catch (QmpException)
                {
                    ended = true;
                }
            }

            if (ended)
            {
                await Task.Delay(100, ct).ConfigureAwait(false);
                if (!machine.HasExited)
                {
                    await machine.Console.WaitForInputDrainedAsync(ct).ConfigureAwait(false);
                }

                return CommonPrefix(machine.Console.Transcript.GetBytes(), expected);
            }

            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }

    private static bool Matches(QemuMachine machine, byte[] expected, bool prefixOnly = false)
    {
        var replayed = machine.Console.Transcript.GetBytes();
        return (prefixOnly ? replayed.Length <= expected.Length : replayed.Length == expected.Length) && CommonPrefix(replayed, expected) == replayed.Length;
    }

    private static long CommonPrefix(byte[] a, byte[] b)
    {
        var n = Math.Min(a.Length, b.Length);
        var i = 0;
        while (i < n && a[i] == b[i])
        {
            i++;
        }

        return i;
    }
}
