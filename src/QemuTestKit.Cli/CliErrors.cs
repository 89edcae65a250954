using System.CommandLine;
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
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                foreach (var error in parse.Errors)
                {
                    await Console.Error.WriteLineAsync($"qemutestkit: {error.Message}").ConfigureAwait(false);
                }

                await Console.Error.WriteLineAsync("Run 'qemutestkit --help' for usage.").ConfigureAwait(false);
                return Usage;
            }

            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }, cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("qemutestkit: cancelled").ConfigureAwait(false);
            return Cancelled;
        }
        catch (Exception e) when (e is QemuTestKitException or QmpException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"qemutestkit: error: {e.Message}").ConfigureAwait(false);
            return Failure;
        }
    }
}
