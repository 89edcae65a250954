using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace QemuTestKit.Cli;

/// <summary>
/// The one usage error to show for a command line, naming the wrong word. System.CommandLine takes an unknown
/// <c>--bogus</c> as the value of an argument or option (a bundle path, a project), which would fail later as a missing
/// file with exit code 1; and it reports several errors at once when one unknown word hides the rest.
/// </summary>
internal static class UsageErrors
{
    /// <summary>The message of the first usage error, or null when the command line is well formed.</summary>
    public static string? Find(ParseResult parse)
    {
        var command = CommandPath(parse.CommandResult);
        foreach (var token in parse.Tokens)
        {
            if (token.Type == TokenType.DoubleDash)
            {
                break; // after "--" every word is a value, even one that starts with '-'
            }

            if (token.Type == TokenType.Argument && LooksLikeOption(token.Value))
            {
                return Unknown(token.Value, command, parse.CommandResult.Command.Arguments.Count > 0);
            }
        }

        if (parse.Errors.Count == 0)
        {
            return null;
        }

        // The first unknown word is the mistake; "option --project is required" after it is a consequence.
        if (parse.UnmatchedTokens.Count > 0)
        {
            var word = parse.UnmatchedTokens[0];
            return LooksLikeOption(word) ? Unknown(word, command, takesPath: false)
                : parse.CommandResult.Command.Subcommands.Count > 0 ? $"unknown command '{word}' for '{command}'"
                : $"unexpected argument '{word}' for '{command}'";
        }

        return parse.Errors[0].Message;
    }

    private static string Unknown(string word, string command, bool takesPath) =>
        $"unknown option '{word}' for '{command}'" + (takesPath ? $" (a path that starts with '-' can be written ./{word})" : string.Empty);

    /// <summary>A word that starts with '-' and is not a number (a negative number is a value, refused by the option's own check).</summary>
    private static bool LooksLikeOption(string word) =>
        word.Length > 1 && word[0] == '-' && !double.TryParse(word, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = r.Parent)
        {
            names.Add(c.Command is RootCommand ? "qemutestkit" : c.Command.Name);
        }

        names.Reverse();
        return string.Join(' ', names);
    }
}
