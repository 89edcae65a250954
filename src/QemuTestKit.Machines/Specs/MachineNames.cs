using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Specs;

/// <summary>
/// What a machine may be called. The name becomes part of ids, file names and directories (the build's state under
/// obj/, run directories), so it must be safe in all of them; the build's .targets file matches the same pattern when
/// it registers a machine's files for <c>dotnet clean</c> (a test holds the two together).
/// </summary>
public static partial class MachineNames
{
    /// <summary>The rule as a .NET regular expression (no leading dot: neither "." nor ".." nor a hidden directory).</summary>
    public const string Pattern = "^[A-Za-z0-9_-][A-Za-z0-9._-]*$";

    /// <summary>The rule in words, for error messages.</summary>
    public const string Rule = "it must be non-empty, start with a letter, digit, '_' or '-', and use only letters, digits, '.', '_' and '-'";

    public static bool IsUsable(string? name) => name is not null && UsableName().IsMatch(name);

    [GeneratedRegex(Pattern)]
    private static partial Regex UsableName();
}
