using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Tasks.Items;

/// <summary>
/// Parsers of item metadata values. Each returns null on success-with-value semantics through an out parameter and a
/// problem sentence (the part after "'VALUE' ") on failure, so that the caller words every error the same way.
/// </summary>
internal static partial class MetadataValues
{
    private const long KiB = 1024;

    /// <summary>
    /// A memory size in MiB: a whole number means MiB ("512"); otherwise a number and a binary unit with no space between
    /// them, as QEMU's <c>-m</c> takes it: K, M, G, T, with or without "B"/"iB", any case ("256M", "256MiB", "1G", "1.5GiB").
    /// "256 MiB" (with a space) is rejected, as QEMU rejects it. The result must be a whole number of MiB.
    /// </summary>
    public static bool TryParseMemoryMiB(string text, out int mib, out string? problem)
    {
        mib = 0;
        problem = null;
        var match = SizePattern().Match(text);
        if (!match.Success)
        {
            problem = text.Trim().Length > 0 && SizeWithSpace().IsMatch(text)
                ? "is not a memory size: write the unit right after the number, without a space (256M, 256MiB, 1G)"
                : "is not a memory size: write a whole number of MiB (512) or a number with a unit K, M, G or T (256M, 256MiB, 1G, 1.5GiB)";
            return false;
        }

        var unit = match.Groups["unit"].Value.ToUpperInvariant();
        long perUnitKiB = unit.Length == 0 ? KiB : unit[0] switch
        {
            'K' => 1,
            'M' => KiB,
            'G' => KiB * KiB,
            _ => KiB * KiB * KiB,
        };
        if (!decimal.TryParse(match.Groups["number"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            problem = "is not a memory size: the number is too large";
            return false;
        }

        decimal totalKiB;
        try
        {
            totalKiB = number * perUnitKiB;
        }
        catch (OverflowException)
        {
            problem = "is too large for a memory size";
            return false;
        }

        if (totalKiB != decimal.Truncate(totalKiB) || totalKiB % KiB != 0)
        {
            problem = "is not a whole number of MiB (QEMU sizes guest memory in MiB)";
            return false;
        }

        var totalMiB = totalKiB / KiB;
        if (totalMiB > int.MaxValue)
        {
            problem = "is too large for a memory size";
            return false;
        }

        mib = (int)totalMiB;
        return true;
    }

    /// <summary>A whole number (a sign is allowed, so that the validator can say why 0 or -1 is out of range).</summary>
    public static bool TryParseInteger(string text, out int value, out string? problem)
    {
        problem = null;
        if (int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }

        problem = "is not a whole number";
        return false;
    }

    /// <summary>Whole seconds, with or without an "s" ("120", "120s").</summary>
    public static bool TryParseSeconds(string text, out int seconds, out string? problem)
    {
        var trimmed = text.Trim();
        if (trimmed.EndsWith('s') || trimmed.EndsWith('S'))
        {
            trimmed = trimmed[..^1];
        }

        if (int.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out seconds))
        {
            problem = null;
            return true;
        }

        problem = "is not a number of seconds (write whole seconds: 120 or 120s)";
        return false;
    }

    /// <summary>A boolean as MSBuild reads one: true/false, on/off, yes/no, any case.</summary>
    public static bool TryParseBoolean(string text, out bool value, out string? problem)
    {
        problem = null;
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "on" or "yes" or "!false":
                value = true;
                return true;
            case "false" or "off" or "no" or "!true":
                value = false;
                return true;
            default:
                value = false;
                problem = "is not a boolean (write true or false)";
                return false;
        }
    }

    public static bool TryParseAccelerator(string text, out Accelerator accelerator, out string? problem)
    {
        problem = null;
        switch (text.Trim().ToLowerInvariant())
        {
            case "tcg":
                accelerator = Accelerator.Tcg;
                return true;
            case "kvm":
                accelerator = Accelerator.Kvm;
                return true;
            default:
                accelerator = Accelerator.Tcg;
                problem = "is not an accelerator (write tcg or kvm)";
                return false;
        }
    }

    /// <summary>
    /// QEMU-style options, "key=value,key=value" (";" also separates; ",," is a literal comma in a value). Keys are
    /// unique; every entry needs a key and an '='.
    /// </summary>
    public static bool TryParseKeyValues(string text, out IReadOnlyDictionary<string, string> values, out string? problem)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        values = result;
        problem = null;
        foreach (var entry in SplitOptions(text))
        {
            var trimmed = entry.Trim();
            if (trimmed.Length == 0)
            {
                continue;
            }

            var equals = trimmed.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                problem = $"is not a key=value list: '{trimmed}' has no key=value form (write key=value,key=value)";
                return false;
            }

            var key = trimmed[..equals].Trim();
            if (!result.TryAdd(key, trimmed[(equals + 1)..].Trim()))
            {
                problem = $"is not a key=value list: key '{key}' is given twice";
                return false;
            }
        }

        return true;
    }

    /// <summary>Host forwards "tcp:2222-:22", separated by ';' or ','.</summary>
    public static bool TryParseHostForwards(string text, out IReadOnlyList<HostForward> forwards, out string? problem)
    {
        var result = new List<HostForward>();
        forwards = result;
        problem = null;
        foreach (var entry in text.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!HostForward.TryParse(entry, out var forward))
            {
                problem = $"is not a list of host forwards: '{entry}' is not PROTOCOL:HOSTPORT-:GUESTPORT (tcp:2222-:22), with tcp or udp, a host port 0 (any free port) to 65535 and a guest port 1 to 65535";
                return false;
            }

            result.Add(forward!);
        }

        return true;
    }

    /// <summary>A ';'-separated argument list (MSBuild's list separator); entries are trimmed, empty ones dropped.</summary>
    public static IReadOnlyList<string> SplitArguments(string text) =>
        text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>The device model behind QEMU's short <c>-drive if=</c> names, so that <c>Interface="virtio"</c> works.</summary>
    public static string DiskInterface(string text) => text.Trim() switch
    {
        "virtio" => "virtio-blk-pci",
        "ide" => "ide-hd",
        "scsi" => "scsi-hd",
        var other => other,
    };

    /// <summary>A path from the project, absolute: relative paths are taken from <paramref name="baseDirectory"/>, '\' means '/'.</summary>
    public static string AbsolutePath(string path, string baseDirectory)
    {
        var fixedSlashes = Path.DirectorySeparatorChar == '/' ? path.Trim().Replace('\\', '/') : path.Trim();
        return Path.GetFullPath(Path.Combine(baseDirectory, fixedSlashes));
    }

    /// <summary>Whether a value names a file by path (has a directory part) rather than a bare name looked up elsewhere.</summary>
    public static bool LooksLikePath(string value) =>
        Path.IsPathRooted(value) || value.Contains('/', StringComparison.Ordinal) || value.Contains('\\', StringComparison.Ordinal);

    private static List<string> SplitOptions(string text)
    {
        var items = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == ',' && i + 1 < text.Length && text[i + 1] == ',')
            {
                current.Append(',');
                i++;
            }
            else if (c is ',' or ';')
            {
                items.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        items.Add(current.ToString());
        return items;
    }

    [GeneratedRegex(@"^\s*(?<number>\d+(\.\d+)?)(?<unit>([KMGTkmgt]([iI]?[bB])?)?)\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"^\s*\d+(\.\d+)?\s+[KMGTkmgt]([iI]?[bB])?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex SizeWithSpace();
}
