using QemuTestKit.Introspection;

namespace QemuTestKit.Machines.Runtime;

/// <summary>The QEMU process of a machine ended while the machine was in use (crash, kill, guest power-off).</summary>
public sealed class MachineExitedException : QemuTestKitException
{
    public MachineExitedException(string machine, int? exitCode, string stderrTail, string consoleTail, Exception? inner = null)
        : base(Describe(machine, exitCode, stderrTail, consoleTail), inner)
    {
        Machine = machine;
        ExitCode = exitCode;
        StderrTail = stderrTail;
        ConsoleTail = consoleTail;
    }

    public string Machine { get; }

    public int? ExitCode { get; }

    public string StderrTail { get; }

    public string ConsoleTail { get; }

    private static string Describe(string machine, int? exitCode, string stderr, string console)
    {
        var code = exitCode switch
        {
            null => "an unknown exit code",
            > 128 => $"exit code {exitCode} (signal {exitCode - 128})",
            < 0 => $"exit code {exitCode} (signal {-exitCode})",
            _ => $"exit code {exitCode}",
        };
        var stderrPart = string.IsNullOrWhiteSpace(stderr) ? "QEMU wrote nothing to stderr" : $"QEMU stderr:\n{stderr.TrimEnd()}";
        var consolePart = string.IsNullOrWhiteSpace(console) ? "the console was silent" : $"console tail:\n{console.TrimEnd()}";
        return $"machine '{machine}': QEMU exited with {code}\n{stderrPart}\n{consolePart}";
    }
}

/// <summary>A machine could not be started or prepared; the message says which step and why.</summary>
public sealed class MachineStartException : QemuTestKitException
{
    public MachineStartException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A command to a running machine failed: a snapshot, a screenshot, an HMP command.</summary>
public sealed class MachineCommandException : QemuTestKitException
{
    public MachineCommandException(string message, Exception? inner = null) : base(message, inner) { }
}
