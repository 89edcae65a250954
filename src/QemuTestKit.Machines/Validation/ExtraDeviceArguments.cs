using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QemuTestKit.Machines.Validation;

/// <summary>A <c>-device</c> found among a spec's extra arguments: the device it asks for, or why it cannot be read.</summary>
internal sealed record ExtraDeviceArgument(int Index, string Text, DeviceUse? Use, string? Problem)
{
    public string Field => string.Create(CultureInfo.InvariantCulture, $"ExtraArguments[{Index}]");
}

/// <summary>
/// Reads <c>-device</c> options out of raw arguments, in both forms QEMU takes: <c>TYPE,key=value,...</c> (with
/// <c>driver=TYPE</c> as an alternative to the leading type, and <c>,,</c> for a literal comma) and JSON.
/// </summary>
internal static class ExtraDeviceArguments
{
    private static readonly HashSet<string> DeviceOptions = new(StringComparer.Ordinal) { "-device", "--device" };

    public static IReadOnlyList<ExtraDeviceArgument> Parse(IReadOnlyList<string> arguments)
    {
        var found = new List<ExtraDeviceArgument>();
        for (var i = 0; i < arguments.Count; i++)
        {
            if (!DeviceOptions.Contains(arguments[i]))
            {
                continue;
            }

            if (i + 1 >= arguments.Count)
            {
                found.Add(new(i, arguments[i], null, "has no value: -device needs a device type"));
                break;
            }

            i++;
            found.Add(ParseValue(i, arguments[i]));
        }

        return found;
    }

    private static ExtraDeviceArgument ParseValue(int index, string text)
    {
        var properties = ParseOptions(text, out var problem);
        if (properties is null)
        {
            return new(index, text, null, problem);
        }

        if (!properties.Remove("driver", out var type) || string.IsNullOrWhiteSpace(type))
        {
            return new(index, text, null, "names no device type (expected TYPE,key=value... or JSON with \"driver\")");
        }

        var field = string.Create(CultureInfo.InvariantCulture, $"ExtraArguments[{index}]");
        return new(index, text, new DeviceUse(DeviceRole.ExtraArgument, field, type, properties, field + "."), null);
    }

    /// <summary>The keys and values of one option's value, in either form QEMU takes (the leading bare item is "driver");
    /// null, with the problem, for JSON that cannot be read.</summary>
    internal static Dictionary<string, string>? ParseOptions(string text, out string? problem)
    {
        problem = null;
        return text.TrimStart().StartsWith('{') ? ParseJson(text, out problem) : ParseKeyValues(text);
    }

    private static Dictionary<string, string>? ParseJson(string text, out string? problem)
    {
        problem = null;
        try
        {
            if (JsonNode.Parse(text) is not JsonObject json)
            {
                problem = "is not a JSON object";
                return null;
            }

            return json.ToDictionary(p => p.Key, p => p.Value is JsonValue v && v.TryGetValue<string>(out var s) ? s : p.Value?.ToJsonString() ?? "null",
                StringComparer.Ordinal);
        }
        catch (JsonException e)
        {
            problem = $"is not valid JSON: {e.Message}";
            return null;
        }
    }

    // QEMU's option syntax: the first item without '=' is the driver; later bare keys mean "key=on".
    private static Dictionary<string, string> ParseKeyValues(string text)
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        var items = SplitItems(text);
        for (var i = 0; i < items.Count; i++)
        {
            var equals = items[i].IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                properties[i == 0 ? "driver" : items[i]] = i == 0 ? items[i] : "on";
            }
            else
            {
                properties[items[i][..equals]] = items[i][(equals + 1)..];
            }
        }

        return properties;
    }

    private static List<string> SplitItems(string text)
    {
        var items = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != ',')
            {
                current.Append(text[i]);
            }
            else if (i + 1 < text.Length && text[i + 1] == ',')
            {
                current.Append(',');
                i++;
            }
            else
            {
                items.Add(current.ToString());
                current.Clear();
            }
        }

        items.Add(current.ToString());
        return items;
    }
}
