namespace QemuTestKit.Machines.Console;

/// <summary>What a command run through a <see cref="ShellSession"/> returned.</summary>
/// <param name="ExitCode">The shell's <c>$?</c> after the command.</param>
/// <param name="Output">Its standard output and standard error, interleaved as the console showed them: <c>\n</c> line
/// ends, escape sequences removed, trailing newlines removed (like <c>$(...)</c>).</param>
/// <param name="Duration">From sending the command to receiving its end marker.</param>
public sealed record ExecResult(int ExitCode, string Output, TimeSpan Duration)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>The output split into lines (none for empty output).</summary>
    public IReadOnlyList<string> Lines => Output.Length == 0 ? Array.Empty<string>() : Output.Split('\n');
}
