using System.CommandLine.Parsing;
using System.Globalization;

namespace QemuTestKit.Cli;

/// <summary>
/// The parser of options that take a whole number of at least 1 (runs, seconds): a bad value is a usage error naming
/// the option (exit 2, nothing started), not System.CommandLine's "as expected type 'System.Int32'" nor a failure found
/// after the work began.
/// </summary>
internal static class PositiveNumber
{
    /// <summary>A week of seconds is far beyond any real wait and inside what a CancellationTokenSource timer accepts.</summary>
    public const int MaxSeconds = 7 * 24 * 3600;

    public static int Parse(ArgumentResult result, int max = int.MaxValue)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : string.Empty;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1 && value <= max)
        {
            return value;
        }

        var option = result.Parent is OptionResult o ? o.Option.Name : "the value";
        var range = max == int.MaxValue ? "of at least 1" : string.Create(CultureInfo.InvariantCulture, $"from 1 to {max}");
        result.AddError($"{option} must be a whole number {range} (got '{text}')");
        return 0;
    }
}
