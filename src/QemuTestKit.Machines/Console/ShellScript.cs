using System.Globalization;
using System.Text;

namespace QemuTestKit.Machines.Console;

/// <summary>
/// Writes the text a <see cref="ShellSession"/> types into the guest's shell. Every physical line stays far below
/// busybox's line-editing limit (about 1022 bytes) and the tty's canonical line limit (4095), and contains only
/// printable ASCII: anything else in a command (tabs, which line editing would take for completion; other control
/// characters; non-ASCII) is produced inside the guest by <c>printf</c> with octal escapes.
/// </summary>
internal static class ShellScript
{
    public const string BeginTag = "QTK-B";
    public const string EndTag = "QTK-E";
    public const string SyncTag = "QTK-S";
    public const string Variable = "QTK_C";

    /// <summary>Longest quoted piece of a command put on one line.</summary>
    public const int MaxPieceBytes = 600;

    private const int MaxEscapedBytesPerPrintf = 40;

    /// <summary>
    /// The lines that run <paramref name="command"/> framed by markers. The command is stored in a variable (in
    /// pieces, one per line, when long) and run with <c>command eval</c> in the shell itself, so <c>cd</c> and
    /// variables persist between commands and a syntax error does not skip the end marker. Stdin comes from
    /// /dev/null so a command cannot swallow the lines that follow; stderr goes where stdout goes.
    /// The markers are printed with <c>printf '%s%s\n' QTK-B 'ID'</c>, so the echo of the typed line never contains
    /// them literally.
    /// </summary>
    public static string Exec(string command, string id)
    {
        var pieces = Quote(command.Replace("\r\n", "\n", StringComparison.Ordinal));
        var framing = string.Create(CultureInfo.InvariantCulture,
            $"printf '%s%s\\n' {BeginTag} '{id}'; command eval \"${Variable}\" </dev/null 2>&1; printf '\\n%s%s:%s\\n' {EndTag} '{id}' \"$?\"\n");
        var script = new StringBuilder();
        script.Append(Variable).Append('=').Append(pieces[0]);
        if (pieces.Count == 1)
        {
            return script.Append("; ").Append(framing).ToString();
        }

        script.Append('\n');
        foreach (var piece in pieces.Skip(1))
        {
            script.Append(Variable).Append("=\"$").Append(Variable).Append('"').Append(piece).Append('\n');
        }

        return script.Append(framing).ToString();
    }

    /// <summary>A line that prints <c>QTK-S&lt;id&gt;</c>, preceded by Ctrl-U to discard anything typed before.</summary>
    public static string Sync(string id, string? before = null) =>
        $"\u0015{(string.IsNullOrEmpty(before) ? string.Empty : before + "; ")}printf '%s%s\\n' {SyncTag} '{id}'\n";

    public static string BeginMarker(string id) => $"{BeginTag}{id}\n";

    public static string EndMarker(string id) => $"\n{EndTag}{id}:";

    /// <summary>The id of synchronization attempt <paramref name="number"/> of session id <paramref name="id"/>.</summary>
    public static string SyncAttempt(string id, string number) => $"{id}r{number}";

    /// <summary>Splits a command into single-quoted shell words whose concatenation is the command.</summary>
    internal static IReadOnlyList<string> Quote(string command)
    {
        var pieces = new List<string>();
        var piece = new StringBuilder("'");
        var pieceBytes = 1;
        var utf8 = new byte[4];

        void Add(string token)
        {
            if (pieceBytes + token.Length + 1 > MaxPieceBytes && pieceBytes > 1)
            {
                pieces.Add(piece.Append('\'').ToString());
                piece.Clear().Append('\'');
                pieceBytes = 1;
            }

            piece.Append(token);
            pieceBytes += token.Length;
        }

        var escaped = new StringBuilder();
        var escapedBytes = 0;

        void FlushEscaped()
        {
            if (escapedBytes > 0)
            {
                Add($"'\"$(printf '{escaped}')\"'");
                escaped.Clear();
                escapedBytes = 0;
            }
        }

        for (var i = 0; i < command.Length; i++)
        {
            var c = command[i];
            if (c is >= ' ' and <= '~' or '\n')
            {
                FlushEscaped();
                Add(c == '\'' ? "'\\''" : c.ToString());
                continue;
            }

            var length = char.IsHighSurrogate(c) && i + 1 < command.Length && char.IsLowSurrogate(command[i + 1]) ? 2 : 1;
            var count = Encoding.UTF8.GetBytes(command.AsSpan(i, length), utf8);
            i += length - 1;
            if (escapedBytes + count > MaxEscapedBytesPerPrintf)
            {
                FlushEscaped();
            }

            for (var b = 0; b < count; b++)
            {
                escaped.Append('\\').Append(Convert.ToString(utf8[b], 8).PadLeft(3, '0'));
            }

            escapedBytes += count;
        }

        FlushEscaped();
        pieces.Add(piece.Append('\'').ToString());
        return pieces;
    }
}
