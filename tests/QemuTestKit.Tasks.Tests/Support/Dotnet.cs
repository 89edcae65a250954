using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace QemuTestKit.Tasks.Tests.Support;

/// <summary>What one <c>dotnet</c> command printed (stdout and stderr interleaved as they came) and how it ended.</summary>
public sealed partial record DotnetResult(IReadOnlyList<string> Arguments, int ExitCode, string Output, TimeSpan Elapsed)
{
    public bool Succeeded => ExitCode == 0;

    public string[] Lines => Output.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n');

    /// <summary>The lines of MSBuild errors (or warnings) with <paramref name="code"/>: "FILE(L,C): error CODE: MESSAGE".</summary>
    /// <remarks>MSBuild prints each one twice (where it happened, and in the summary), the first time after a node
    /// prefix ("1>"); both come back as one line without the prefix.</remarks>
    public string[] Diagnostics(string code, string kind = "error") =>
        Lines.Where(l => l.Contains($": {kind} {code}: ", StringComparison.Ordinal))
            .Select(l => NodePrefix().Replace(l, string.Empty).Trim())
            .Distinct(StringComparer.Ordinal)
            .ToArray();

    public override string ToString() =>
        $"dotnet {string.Join(' ', Arguments)}: exit {ExitCode} after {Elapsed.TotalSeconds:0.0} s\n{Output}";

    [GeneratedRegex(@"^\s*\d+(:\d+)?>")]
    private static partial Regex NodePrefix();
}

/// <summary>Runs the real <c>dotnet</c> CLI as a child process, with a deadline that kills the whole process tree.</summary>
public static class Dotnet
{
    public static async Task<DotnetResult> RunAsync(IReadOnlyList<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string?> environment,
        TimeSpan timeout, Func<Process, StringBuilder, CancellationToken, Task>? whileRunning = null, IReadOnlyList<string>? prefix = null,
        CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(prefix is { Count: > 0 } ? prefix[0] : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var item in (prefix ?? []).Skip(1).Concat(prefix is { Count: > 0 } ? ["dotnet"] : []).Concat(arguments))
        {
            psi.ArgumentList.Add(item);
        }

        // Nothing of the MSBuild that runs these tests may leak into the child's MSBuild.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)
                     || k.StartsWith("MSBuild", StringComparison.Ordinal) || k is "DOTNET_HOST_PATH").ToArray())
        {
            psi.Environment.Remove(key);
        }

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

        var output = new StringBuilder();
        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        process.StandardInput.Close();
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            if (whileRunning is not null)
            {
                await whileRunning(process, output, deadline.Token);
            }

            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds:0} s; output:\n{Snapshot(output)}");
        }

        // The asynchronous readers may still hold the last lines.
        process.WaitForExit();
        return new DotnetResult(arguments, process.ExitCode, Snapshot(output), stopwatch.Elapsed);
    }

    public static string Snapshot(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.Append(line).Append('\n');
        }
    }
}
