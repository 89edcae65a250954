using System.Globalization;
using QemuTestKit.Introspection;

namespace QemuTestKit.Machines.Console;

/// <summary>Base of the console failures; carries the last lines the console showed.</summary>
public abstract class ConsoleException : QemuTestKitException
{
    protected ConsoleException(string message, string consoleTail, Exception? inner = null)
        : base(WithTail(message, consoleTail), inner)
    {
        ConsoleTail = consoleTail;
    }

    /// <summary>The last lines of the console (sanitized), as included in the message.</summary>
    public string ConsoleTail { get; }

    internal static string Seconds(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? "an infinite timeout" : timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    internal static string Shorten(string text, int max = 200)
    {
        var single = text.Replace("\n", "\\n", StringComparison.Ordinal);
        return single.Length <= max ? single : string.Concat(single.AsSpan(0, max), "...");
    }

    private static string WithTail(string message, string tail) =>
        string.IsNullOrWhiteSpace(tail)
            ? $"{message}\nthe console showed nothing"
            : $"{message}\nconsole tail:\n{tail.TrimEnd()}";
}

/// <summary>The console did not show what was expected within the timeout.</summary>
public sealed class ConsoleTimeoutException : ConsoleException
{
    public ConsoleTimeoutException(string message, TimeSpan timeout, string consoleTail, Exception? inner = null)
        : base(message, consoleTail, inner)
    {
        Timeout = timeout;
    }

    public TimeSpan Timeout { get; }
}

/// <summary>The console connection closed (QEMU exited or closed the port) while something was expected.</summary>
public sealed class ConsoleClosedException : ConsoleException
{
    public ConsoleClosedException(string message, string consoleTail, Exception? inner = null)
        : base(message, consoleTail, inner)
    {
    }
}
