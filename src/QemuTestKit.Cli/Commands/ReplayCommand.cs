using System.CommandLine;
using System.Globalization;
using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Cli.Commands;

/// <summary>
/// <c>qemutestkit replay</c>: replays a bundle on the recorded QEMU build, from its start or a checkpoint, and prints
/// whether the replayed console is byte for byte the recorded one. Exit code 0 only when identical.
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
        var timeout = new Option<int?>("--timeout") { Description = "Give up after this many seconds (default: 10x the recorded duration, at least 60)" };
        var qemu = new Option<string?>("--qemu") { Description = "QEMU binary to use instead of the recorded path (must be the recorded build)" };
        var noVerify = new Option<bool>("--no-verify") { Description = "Replay without first checking every file of the bundle against its sha256" };
        var command = new Command("replay", "Replay a bundle and verify it replays the recorded console byte for byte")
        {
            bundle, from, gdb, timeout, qemu, noVerify,
        };
        command.SetAction(async (parse, ct) =>
        {
            await using var opened = await ReplayBundle.OpenAsync(parse.GetValue(bundle)!, ct);
            if (parse.GetValue(timeout) is { } seconds && seconds <= 0)
            {
                throw new ArgumentException("--timeout must be a positive number of seconds");
            }

            var options = new ReplayOptions
            {
                FromCheckpoint = parse.GetValue(from),
                Timeout = parse.GetValue(timeout) is { } s ? TimeSpan.FromSeconds(s) : null,
                Qemu = parse.GetValue(qemu),
                Gdb = parse.GetValue(gdb) is { } stub ? ParseGdb(stub) : null,
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
            Console.WriteLine($"replaying {opened.Source}: machine {manifest.Spec.Name}, QEMU {manifest.Qemu.Version}, from {options.FromCheckpoint ?? manifest.StartSnapshot ?? "the start"}");
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

    private static GdbStub ParseGdb(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? port is > 0 and < 65536 ? new GdbStub(Port: port) : throw new ArgumentException($"--gdb port {port} is not between 1 and 65535")
            : new GdbStub(SocketPath: Path.GetFullPath(value));

    private static string Printable(string? text) =>
        text is null ? "(nothing)" : string.Concat(text.Select(c => char.IsControl(c) ? c == '\n' ? "\\n" : c == '\r' ? "\\r" : $"\\x{(int)c:x2}" : c.ToString()));
}
