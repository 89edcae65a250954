using System.Globalization;
using QemuTestKit.Cli.Output.Json;
using QemuTestKit.Cli.Progress;
using QemuTestKit.Containers;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using ConsoleTranscript = QemuTestKit.Machines.Console.ConsoleTranscript;

namespace QemuTestKit.Cli.Replaying;

/// <summary>What <c>qemutestkit replay</c> was asked to do.</summary>
internal sealed record ReplayRequest(string Bundle, ReplayOptions Options, bool Verify, bool InImage, bool Json, string? SaveTranscript);

/// <summary>
/// One <c>qemutestkit replay</c>: says what it does as it goes (on stdout, or stderr with --json so stdout holds only the
/// JSON document), replays on the host or in the recorded image, saves the transcript, and ends with the verdict.
/// </summary>
internal sealed class ReplayRun
{
    private readonly ReplayRequest _request;
    private readonly Action<string> _say;
    private ConsoleTranscript? _console;

    public ReplayRun(ReplayRequest request)
    {
        _request = request;
        var human = request.Json ? Console.Error : Console.Out;
        _say = line => human.WriteLine(line);
    }

    public async Task<int> RunAsync(CancellationToken ct)
    {
        await using var opened = await ReplayBundle.OpenAsync(_request.Bundle, ct);
        var transcriptPath = _request.SaveTranscript is { } path ? TranscriptFile.Check(path) : null;
        var options = _request.Options with { Progress = _say };
        var manifest = opened.Manifest;
        var from = options.FromCheckpoint ?? manifest.StartSnapshot ?? "the start";
        var what = $"machine {manifest.Spec.Name}, QEMU {manifest.Qemu.Version}, from {from}" + (options.Until is { } stopAt ? $" until {stopAt}" : string.Empty);
        var where = string.Empty;
        var inImage = false;
        var image = ContainerReplayHost.RecordedImage(manifest);
        if (image is { } recorded)
        {
            var hostBinary = _request.InImage ? null : await ContainerReplayHost.HostBinaryOfRecordedBuildAsync(manifest, options.Qemu, ct);
            if (hostBinary is null)
            {
                inImage = true;
                options = options with { Host = new ContainerReplayHost(recorded.Name) };
                where = $" in image {recorded.Name} ({(_request.InImage ? "--in-image" : "this host's QEMU is not the recorded build")})";
            }
            else
            {
                options = options with { Qemu = hostBinary };
                where = $" on the host (same QEMU build as image {recorded.Name})";
            }
        }
        else if (_request.InImage)
        {
            throw new ArgumentException($"bundle {opened.Source} was recorded on a host, not in a container: there is no image to replay it in; replay it without --in-image");
        }

        _say($"replaying {opened.Source}{where}: {what}");
        await VerifyAsync(opened, ct);
        var expected = manifest.Transcript.Length - StartOffset(manifest, options.FromCheckpoint);
        _say(inImage
            ? $"replay: starting a container of {image!.Value.Name}"
            : "replay: starting QEMU (a working copy of the state image, then the recorded snapshot)");
        ReplayResult result;
        await using (Heartbeat.Start(elapsed => Volatile.Read(ref _console) is { } console
                   ? string.Create(CultureInfo.InvariantCulture, $"replay: {console.Length} of {expected} console bytes replayed ({Heartbeat.Seconds(elapsed)})")
                   : $"replay: still starting QEMU ({Heartbeat.Seconds(elapsed)})", _say, ct))
        {
            result = await BlameDamageAsync(opened, () => Replayer.ReplayAsync(opened, options with { Started = Started }, ct),
                r => r.Identical, ct);
        }

        void Started(ConsoleTranscript console)
        {
            Volatile.Write(ref _console, console);
            _say(string.Create(CultureInfo.InvariantCulture, $"replay: QEMU is replaying from {from}, {expected} recorded console bytes to compare"));
        }

        if (!result.Identical)
        {
            _say($"  recorded: {Printable(result.Recorded)}");
            _say($"  replayed: {Printable(result.Replayed)}");
        }

        long? saved = null;
        if (transcriptPath is not null)
        {
            var bytes = Volatile.Read(ref _console)?.GetBytes() ?? [];
            await TranscriptFile.WriteAsync(transcriptPath, bytes, ct);
            saved = bytes.Length;
            _say(string.Create(CultureInfo.InvariantCulture, $"replay: transcript saved to {transcriptPath} ({bytes.Length} bytes)"));
        }

        if (result.RelayedCheckpoints.Count > 0)
        {
            _say($"replay: went on from checkpoint {string.Join(", ", result.RelayedCheckpoints)} (loaded one instruction before it, as the recording saved it)");
        }

        _say(result.Verdict);
        if (_request.Json)
        {
            await JsonOutput.WriteAsync(new ReplayReport(opened.Source, manifest.Spec.Name, manifest.Qemu.Version, result.From, options.Until?.ToString(), inImage ? "image" : "host",
                image?.Name, result.Identical, result.Verdict, result.ComparedBytes, result.DivergedAt, result.Recorded, result.Replayed, result.StoppedAtIcount,
                Math.Round(result.Elapsed.TotalSeconds, 3), inImage ? null : result.Binary, transcriptPath, saved, result.RelayedCheckpoints), CliJsonContext.Default.ReplayReport);
        }

        return result.Identical ? 0 : CliErrors.Failure;
    }

    /// <summary>A damaged bundle would replay into nonsense (or crash QEMU): say what is damaged instead.</summary>
    private async Task VerifyAsync(ReplayBundle bundle, CancellationToken ct)
    {
        if (!_request.Verify)
        {
            return;
        }

        _say(string.Create(CultureInfo.InvariantCulture, $"replay: verifying the bundle's {bundle.Manifest.Files.Count} files against bundle.json"));
        var verification = await bundle.VerifyAsync(ct);
        if (!verification.IsIntact)
        {
            throw new ReplayException(
                $"bundle {bundle.Source} is damaged ({string.Join("; ", verification.Problems)}); run 'qemutestkit bundle verify' for details, or --no-verify to replay anyway");
        }
    }

    /// <summary>
    /// After --no-verify, a failure may be the damage nobody checked for: a log cut short makes QEMU refuse to start,
    /// end early, or wait for events that never come. Check then, and blame the files, not QEMU: an error that was
    /// QEMU's becomes one that names the damaged files; a divergence keeps its verdict, with a line that says why.
    /// </summary>
    private async Task<T> BlameDamageAsync<T>(ReplayBundle bundle, Func<Task<T>> replay, Func<T, bool> identical, CancellationToken ct)
    {
        if (_request.Verify)
        {
            return await replay();
        }

        T result;
        try
        {
            result = await replay();
        }
        catch (QemuTestKitException e) when (e is ReplayException or MachineStartException)
        {
            if (await DamageAsync(bundle, ct) is { } damage)
            {
                throw new ReplayException($"{(e is ReplayStuckException stuck ? stuck.What : e.Message.TrimEnd('.'))}; {damage}", e);
            }

            throw;
        }

        if (!identical(result) && await DamageAsync(bundle, ct) is { } damaged)
        {
            _say($"replay: {damaged}");
        }

        return result;
    }

    private async Task<string?> DamageAsync(ReplayBundle bundle, CancellationToken ct)
    {
        _say("replay: it failed; verifying the bundle it was not checked against (--no-verify)");
        var verification = await bundle.VerifyAsync(ct);
        return verification.IsIntact
            ? null
            : $"bundle {bundle.Source} is damaged ({string.Join("; ", verification.Problems)}), which explains it rather than QEMU: restore the bundle from a good copy or record the run again";
    }

    private static long StartOffset(BundleManifest manifest, string? checkpoint) =>
        manifest.Checkpoints.FirstOrDefault(c => c.Name == checkpoint)?.TranscriptOffset ?? 0;

    private static string Printable(string? text) =>
        text is null ? "(nothing)" : string.Concat(text.Select(c => char.IsControl(c) ? c == '\n' ? "\\n" : c == '\r' ? "\\r" : $"\\x{(int)c:x2}" : c.ToString()));
}
