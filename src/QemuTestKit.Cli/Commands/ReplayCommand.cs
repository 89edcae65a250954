using System.CommandLine;
using System.Globalization;
using QemuTestKit.Containers;
using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Cli.Commands;

/// <summary>
/// <c>qemutestkit replay</c>: replays a bundle on the recorded QEMU build, from its start or a checkpoint, and prints
/// whether the replayed console is byte for byte the recorded one. Exit code 0 only when identical. A bundle recorded
/// in a container replays on the host when the host's QEMU is byte for byte the image's build, else (or with
/// <c>--in-image</c>) in the recorded image; the first line says which.
/// </summary>
internal static class ReplayCommand
{
    public static Command Create()
    {
        var bundle = new Argument<string>("bundle") { Description = "Replay bundle: a .qtkreplay directory, its bundle.json, or a .zip" };
        var from = new Option<string?>("--from") { Description = "Checkpoint to start from (default: the start of the recording)" };
        var gdb = new Option<string?>("--gdb")
        {
            Description = "Start paused with a gdb stub: a TCP port on 127.0.0.1, or a Unix socket path",
        };
        var until = new Option<string?>("--until")
        {
            Description = "Stop the replay at an instruction count (N or icount:N) or once the byte at a transcript offset is out (offset:N); with --gdb, wait there for gdb",
        };
        var timeout = new Option<int?>("--timeout")
        {
            Description = "Give up after this many seconds (default: 10x the recorded duration, at least 60)",
            CustomParser = r => PositiveNumber.Parse(r, PositiveNumber.MaxSeconds),
        };
        var qemu = new Option<string?>("--qemu") { Description = "QEMU binary to use instead of the recorded path (must be the recorded build)" };
        var noVerify = new Option<bool>("--no-verify") { Description = "Replay without first checking every file of the bundle against its sha256" };
        var inImage = new Option<bool>("--in-image")
        {
            Description = "For a bundle recorded in a container: replay in the recorded image even when this host's QEMU is the same build",
        };
        var command = new Command("replay", "Replay a bundle and verify it replays the recorded console byte for byte")
        {
            bundle, from, gdb, until, timeout, qemu, noVerify, inImage,
        };
        command.SetAction(async (parse, ct) =>
        {
            await using var opened = await ReplayBundle.OpenAsync(parse.GetValue(bundle)!, ct);
            var options = new ReplayOptions
            {
                FromCheckpoint = parse.GetValue(from),
                Timeout = parse.GetValue(timeout) is { } s ? TimeSpan.FromSeconds(s) : null,
                Qemu = parse.GetValue(qemu),
                Gdb = parse.GetValue(gdb) is { } stub ? ParseGdb(stub) : null,
                Until = parse.GetValue(until) is { } stop ? ReplayUntil.Parse(stop) : null,
                Progress = line => Console.WriteLine(line),
            };
            if (!parse.GetValue(noVerify))
            {
                // A damaged bundle would replay into nonsense (or crash QEMU): say what is damaged instead.
                var verification = await opened.VerifyAsync(ct);
                if (!verification.IsIntact)
                {
                    throw new ReplayException(
                        $"bundle {opened.Source} is damaged ({string.Join("; ", verification.Problems)}); run 'qemutestkit bundle verify' for details, or --no-verify to replay anyway");
                }
            }

            var manifest = opened.Manifest;
            var what = $"machine {manifest.Spec.Name}, QEMU {manifest.Qemu.Version}, from {options.FromCheckpoint ?? manifest.StartSnapshot ?? "the start"}" +
                (options.Until is { } stopAt ? $" until {stopAt}" : string.Empty);
            var where = string.Empty;
            if (ContainerReplayer.RecordedImage(manifest) is { } image)
            {
                var hostBinary = parse.GetValue(inImage) ? null : ContainerReplayer.HostBinaryOfRecordedBuild(manifest, options.Qemu);
                if (hostBinary is null)
                {
                    return await InImageAsync(opened, options, image.Name, parse.GetValue(inImage) ? "--in-image" : "this host's QEMU is not the recorded build", what, ct);
                }

                options = options with { Qemu = hostBinary };
                where = $" on the host (same QEMU build as image {image.Name})";
            }
            else if (parse.GetValue(inImage))
            {
                throw new ArgumentException($"bundle {opened.Source} was recorded on a host, not in a container: there is no image to replay it in; replay it without --in-image");
            }

            Console.WriteLine($"replaying {opened.Source}{where}: {what}");
            var result = await Replayer.ReplayAsync(opened, options, ct);
            if (!result.Identical)
            {
                Console.WriteLine($"  recorded: {Printable(result.Recorded)}");
                Console.WriteLine($"  replayed: {Printable(result.Replayed)}");
            }

            Console.WriteLine(result.Verdict);
            return result.Identical ? 0 : 1;
        });
        return command;
    }

    private static async Task<int> InImageAsync(ReplayBundle bundle, ReplayOptions options, string image, string why, string what, CancellationToken ct)
    {
        if (options.Gdb is not null)
        {
            throw new ArgumentException($"--gdb replays on the host only, and bundle {bundle.Source} replays in image {image} ({why}): install the recorded QEMU build on this host to debug it");
        }

        if (options.Until is not null)
        {
            throw new ArgumentException($"--until replays on the host only, and bundle {bundle.Source} replays in image {image} ({why}): install the recorded QEMU build on this host to stop it there");
        }

        Console.WriteLine($"replaying {bundle.Source} in image {image} ({why}): {what}");
        var result = await ContainerReplayer.ReplayAsync(bundle, new ContainerReplayOptions { FromCheckpoint = options.FromCheckpoint, Timeout = options.Timeout }, ct);
        Console.WriteLine(result.Verdict);
        return result.Identical ? 0 : 1;
    }

    private static GdbStub ParseGdb(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? port is > 0 and < 65536 ? new GdbStub(Port: port) : throw new ArgumentException($"--gdb port {port} is not between 1 and 65535")
            : new GdbStub(SocketPath: Path.GetFullPath(value));

    private static string Printable(string? text) =>
        text is null ? "(nothing)" : string.Concat(text.Select(c => char.IsControl(c) ? c == '\n' ? "\\n" : c == '\r' ? "\\r" : $"\\x{(int)c:x2}" : c.ToString()));
}
