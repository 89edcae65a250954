using System.Globalization;
using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>The serial consoles and the ready condition the runtime waits for on console 0.</summary>
internal static class ConsoleChecks
{
    // The runtime gives each console its own socket; a PC has four serial ports (COM1 to COM4).
    private const int MaxSerialConsoles = 4;

    public static void Check(ValidationRun run)
    {
        var consoles = run.Spec.SerialConsoles;
        if (consoles is < 0 or > MaxSerialConsoles)
        {
            run.Errors.Add(MachineSpecErrorCodes.SerialConsolesOutOfRange, "SerialConsoles", Invariant(consoles),
                $"must be 0 to {MaxSerialConsoles}", $"0 to {MaxSerialConsoles}");
        }

        var ready = run.Spec.Ready;
        if (ready.Pattern is { } pattern)
        {
            CheckPattern(run, pattern);
        }

        if (ready.TimeoutSeconds <= 0)
        {
            run.Errors.Add(MachineSpecErrorCodes.ReadyTimeoutOutOfRange, "Ready.TimeoutSeconds", Invariant(ready.TimeoutSeconds),
                "must be at least 1 second", "at least 1");
        }
    }

    private static void CheckPattern(ValidationRun run, string pattern)
    {
        // An empty pattern matches at once: the machine would count as ready before it has printed anything.
        if (pattern.Length == 0)
        {
            run.Errors.Add(MachineSpecErrorCodes.InvalidReadyPattern, "Ready.Pattern", pattern,
                "is empty, so it would match before the guest printed anything", "a .NET regular expression that matches the ready line");
            return;
        }

        try
        {
            _ = new Regex(pattern, RegexOptions.None, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException e)
        {
            run.Errors.Add(MachineSpecErrorCodes.InvalidReadyPattern, "Ready.Pattern", pattern,
                $"is not a valid .NET regular expression: {e.Message}", "a .NET regular expression");
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
