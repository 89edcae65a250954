using System.CommandLine;
using System.Globalization;
using QemuTestKit.Cli.Replaying;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;

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
        var json = new Option<bool>("--json") { Description = "Print the verdict as one JSON document on stdout (progress goes to stderr)" };
        var saveTranscript = new Option<string?>("--save-transcript") { Description = "Write the console bytes the replay printed to this file (atomically)" };
        var command = new Command("replay", "Replay a bundle and verify it replays the recorded console byte for byte")
        {
            bundle, from, gdb, until, timeout, qemu, noVerify, inImage, json, saveTranscript,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new ReplayOptions
            {
                FromCheckpoint = parse.GetValue(from),
                Timeout = parse.GetValue(timeout) is { } s ? TimeSpan.FromSeconds(s) : null,
                Qemu = parse.GetValue(qemu),
                Gdb = parse.GetValue(gdb) is { } stub ? ParseGdb(stub) : null,
                Until = parse.GetValue(until) is { } stop ? ReplayUntil.Parse(stop) : null,
            };
            var request = new ReplayRequest(parse.GetValue(bundle)!, options, !parse.GetValue(noVerify), parse.GetValue(inImage), parse.GetValue(json),
                parse.GetValue(saveTranscript));
            return await new ReplayRun(request).RunAsync(ct);
        });
        return command;
    }

    private static GdbStub ParseGdb(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? port is > 0 and < 65536 ? new GdbStub(Port: port) : throw new ArgumentException($"--gdb port {port} is not between 1 and 65535")
            : new GdbStub(SocketPath: Path.GetFullPath(value));
}
