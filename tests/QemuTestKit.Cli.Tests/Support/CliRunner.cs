using System.Diagnostics;
using System.Runtime.InteropServices;

namespace QemuTestKit.Cli.Tests.Support;

/// <summary>What one run of the real <c>qemutestkit</c> process produced.</summary>
internal sealed record CliResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, bool TimedOut)
{
    /// <summary>stderr split into non-empty lines.</summary>
    public string[] StderrLines => Stderr.Replace("\r", string.Empty, StringComparison.Ordinal)
        .Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public override string ToString() =>
        $"exit {ExitCode} after {Elapsed.TotalSeconds:0.00} s{(TimedOut ? " (timed out, killed)" : string.Empty)}\n" +
        $"--- stderr ---\n{Stderr}\n--- stdout (first 2000 chars) ---\n{(Stdout.Length > 2000 ? Stdout[..2000] + "..." : Stdout)}";
}

/// <summary>
/// Runs the built CLI (<c>qemutestkit.dll</c>, copied into this test's output by the project reference) as a child
/// process with <c>dotnet</c>, the way a user runs the tool: real argument parsing, real exit code, real stdout/stderr.
/// </summary>
internal static class CliRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    public static string CliDll { get; } = Path.Combine(AppContext.BaseDirectory, "qemutestkit.dll");

    /// <summary>
    /// Runs <c>dotnet qemutestkit.dll args...</c>. Never shares the user's catalog cache: <c>QEMUTESTKIT_CACHE_DIR</c> is set to
    /// <paramref name="cacheDir"/> (tests that want to exercise <c>--cache-dir</c> pass it as an argument as well).
    /// Kills the process tree when it outlives <paramref name="timeout"/>. <paramref name="whileRunning"/>, if given, runs
    /// once the process has started (to signal it, for example), within the same deadline.
    /// </summary>
    public static async Task<CliResult> RunAsync(
        IEnumerable<string> args,
        string cacheDir,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        Func<Process, CancellationToken, Task>? whileRunning = null,
        CancellationToken cancellationToken = default)
    {
        File.Exists(CliDll).Should().BeTrue($"the CLI must be built next to the tests ({CliDll})");
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        psi.ArgumentList.Add(CliDll);
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["QEMUTESTKIT_CACHE_DIR"] = cacheDir;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                if (value is null)
                {
                    psi.Environment.Remove(key);
                }
                else
                {
                    psi.Environment[key] = value;
                }
            }
        }

        var limit = timeout ?? DefaultTimeout;
        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);

        var timedOut = false;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            deadline.CancelAfter(limit);
            try
            {
                if (whileRunning is not null)
                {
                    await whileRunning(process, deadline.Token);
                }

                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                timedOut = !cancellationToken.IsCancellationRequested;
                Kill(process);
                await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                if (!timedOut)
                {
                    throw;
                }
            }
        }

        stopwatch.Stop();

        // The pipes close when the CLI exits, unless something it started still holds them; do not hang on that.
        var drained = Task.WhenAll(stdout, stderr);
        await Task.WhenAny(drained, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None));
        return new CliResult(
            process.ExitCode,
            stdout.IsCompletedSuccessfully ? stdout.Result : string.Empty,
            stderr.IsCompletedSuccessfully ? stderr.Result : "(stderr was not closed within 10 s of the CLI's exit)",
            stopwatch.Elapsed,
            timedOut);
    }

    /// <summary>Sends a POSIX signal (for example INT) to a process, through kill(1).</summary>
    public static async Task SignalAsync(Process process, string signal, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo("kill") { UseShellExecute = false };
        psi.ArgumentList.Add($"-{signal}");
        psi.ArgumentList.Add(process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var kill = Process.Start(psi) ?? throw new InvalidOperationException("could not start kill");
        await kill.WaitForExitAsync(cancellationToken);
        kill.ExitCode.Should().Be(0, $"kill -{signal} {process.Id} must succeed");
    }

    /// <summary>
    /// Whether this process ignores SIGINT (as a background job of a non-interactive shell does). Children inherit that,
    /// and the .NET runtime keeps an inherited SIGINT ignored, so a Ctrl+C test cannot work then.
    /// </summary>
    public static bool SigintIgnored()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null
            && ulong.TryParse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var mask)
            && (mask & (1UL << (2 - 1))) != 0;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>The <c>dotnet</c> host that runs this test process, so the CLI runs on the same runtime.</summary>
    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        // <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd(Path.DirectorySeparatorChar);
        var root = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(runtimeDir)));
        if (root is not null && Path.Combine(root, "dotnet") is var candidate && File.Exists(candidate))
        {
            return candidate;
        }

        return "dotnet";
    }
}
