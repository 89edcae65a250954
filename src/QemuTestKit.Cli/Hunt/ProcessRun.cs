using System.Diagnostics;
using System.Text;

namespace QemuTestKit.Cli.Hunt;

/// <summary>One child process with its output captured, killed with its whole tree on cancellation or timeout.</summary>
internal static class ProcessRun
{
    public sealed record Result(int ExitCode, string Output, TimeSpan Elapsed, bool TimedOut);

    public static async Task<Result> RunAsync(string file, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment,
        string? logPath, TimeSpan timeout, CancellationToken cancellationToken, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var output = new StringBuilder();
        var stopwatch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        void Append(object? _, DataReceivedEventArgs e)
        {
            if (e.Data is not null)
            {
                lock (output)
                {
                    output.AppendLine(e.Data);
                }
            }
        }

        process.OutputDataReceived += Append;
        process.ErrorDataReceived += Append;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
            // The test host's QEMU processes die with it (they are started with a parent-death signal).
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }

        string text;
        lock (output)
        {
            text = output.ToString();
        }

        if (logPath is not null)
        {
            await File.WriteAllTextAsync(logPath, text, CancellationToken.None).ConfigureAwait(false);
        }

        return new Result(timedOut ? -1 : process.ExitCode, text, stopwatch.Elapsed, timedOut);
    }

    public static string Tail(string output, int lines = 15) =>
        string.Join('\n', output.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines));
}
