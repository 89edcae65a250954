using System.CommandLine;
using System.Runtime.InteropServices;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Qmp;

namespace QemuTestKit.Cli;

/// <summary>Turns every failure the user can cause into one readable line and an exit code, never a stack trace.</summary>
internal static class CliErrors
{
    public const int Failure = 1;
    public const int Usage = 2;
    public const int Cancelled = 130;

    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        using var cancel = new CancellationTokenSource();

        // One handler for Ctrl+C and SIGTERM, ours (System.CommandLine's own is switched off below): it only cancels, and
        // the registrations are disposed before the token source, so a late signal can never touch a disposed source.
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            try
            {
                cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        try
        {
            var parse = root.Parse(args);
            if (UsageErrors.Find(parse) is { } usage)
            {
                await Console.Error.WriteLineAsync($"qemutestkit: {usage}").ConfigureAwait(false);
                await Console.Error.WriteLineAsync("Run 'qemutestkit --help' for usage.").ConfigureAwait(false);
                return Usage;
            }

            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("qemutestkit: cancelled").ConfigureAwait(false);
            return Cancelled;
        }
        catch (Exception e) when (e is QemuTestKitException or QmpException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            await Console.Error.WriteLineAsync($"qemutestkit: error: {OneLine(e.Message)}").ConfigureAwait(false);
            return Failure;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug, not a user error: still one line (set QEMUTESTKIT_DEBUG=1 for the stack trace), never a crash dump.
            var detail = Environment.GetEnvironmentVariable("QEMUTESTKIT_DEBUG") == "1" ? e.ToString() : $"{e.GetType().Name}: {OneLine(e.Message)}";
            await Console.Error.WriteLineAsync($"qemutestkit: internal error: {detail} (please report it)").ConfigureAwait(false);
            return Failure;
        }
    }

    /// <summary>Messages may quote QEMU's stderr over several lines; the user gets one line.</summary>
    private static string OneLine(string message) =>
        string.Join(" | ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
