using System.Diagnostics;

namespace QemuTestKit.Bench;

/// <summary>Runs a command a benchmark depends on; one that fails ends the benchmark with its output.</summary>
internal static class BenchProcess
{
    public static async Task RunAsync(string fileName, IReadOnlyList<string> arguments, CancellationToken ct, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? string.Empty };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new BenchFailedException(
                $"{Path.GetFileName(fileName)} {string.Join(' ', arguments)} exited with {process.ExitCode}: {(await stdout.ConfigureAwait(false)).Trim()} {(await stderr.ConfigureAwait(false)).Trim()}");
        }
    }
}
