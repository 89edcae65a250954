using System.Text;
using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Console;

/// <summary>Turns raw terminal output into plain text.</summary>
public static partial class ConsoleText
{
    /// <summary>
    /// Removes terminal escape sequences (CSI such as <c>ESC[6n</c> or colours, OSC, two-character escapes), carriage
    /// returns and every other control character except newline and tab.
    /// </summary>
    public static string Sanitize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return NeedsSanitizing(text) ? ControlPattern().Replace(text, string.Empty) : text;
    }

    /// <summary>The last <paramref name="lines"/> lines of <paramref name="text"/> (trailing empty lines dropped).</summary>
    public static string TailLines(string text, int lines)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (lines <= 0)
        {
            return string.Empty;
        }

        var end = text.Length;
        while (end > 0 && text[end - 1] == '\n')
        {
            end--;
        }

        var start = end;
        var seen = 0;
        while (start > 0)
        {
            if (text[start - 1] == '\n' && ++seen == lines)
            {
                break;
            }

            start--;
        }

        return text[start..end];
    }

    private static bool NeedsSanitizing(string text)
    {
        foreach (var c in text)
        {
            if ((c < ' ' && c is not '\n' and not '\t') || c == '\x7f')
            {
                return true;
            }
        }

        return false;
    }

    // CSI: ESC [ parameters intermediates final; OSC: ESC ] ... BEL or ESC \; other escapes: ESC + one character;
    // then any remaining C0 control except \t and \n, and DEL.
    [GeneratedRegex(@"\x1B\[[0-?]*[ -/]*[@-~]|\x1B\][^\x07\x1B\n]*(?:\x07|\x1B\\)?|\x1B[ -Z\\-~]?|[\x00-\x08\x0B-\x1A\x1C-\x1F\x7F]",
        RegexOptions.CultureInvariant)]
    private static partial Regex ControlPattern();
}

/// <summary>
/// Cleans console output incrementally, one complete line at a time: escape sequences, carriage returns and control
/// characters are removed, then text matching a filter (kernel messages by default) is cut out. Working on complete
/// lines means a kernel message that the UART wrote into the middle of a line is removed whole, and the two halves
/// of the interrupted line join up again.
/// </summary>
internal sealed class ConsoleLineCleaner
{
    private readonly StringBuilder _pending = new();
    private readonly Regex? _filter;

    public ConsoleLineCleaner(Regex? filter) => _filter = filter;

    /// <summary>Adds raw text; returns the cleaned text of the lines it completed (empty when none).</summary>
    public string Feed(string raw)
    {
        var newline = raw.LastIndexOf('\n');
        if (newline < 0)
        {
            _pending.Append(raw);
            return string.Empty;
        }

        string complete;
        if (_pending.Length == 0)
        {
            complete = raw[..(newline + 1)];
        }
        else
        {
            _pending.Append(raw, 0, newline + 1);
            complete = _pending.ToString();
            _pending.Clear();
        }

        _pending.Append(raw, newline + 1, raw.Length - newline - 1);
        var clean = ConsoleText.Sanitize(complete);
        return _filter is null ? clean : _filter.Replace(clean, string.Empty);
    }
}
