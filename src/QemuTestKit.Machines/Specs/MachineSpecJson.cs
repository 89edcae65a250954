using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace QemuTestKit.Machines.Specs;

/// <summary>Loads and saves machine specs as JSON (what the build hands to the tests).</summary>
public static class MachineSpecJson
{
    public static string Serialize(MachineSpec spec) => JsonSerializer.Serialize(spec, MachineSpecJsonContext.Default.MachineSpec);

    /// <exception cref="MachineSpecFormatException">The JSON is malformed or lacks a required field.</exception>
    public static MachineSpec Deserialize(string json, string source)
    {
        try
        {
            if (JsonNode.Parse(json) is not JsonObject given)
            {
                throw new MachineSpecFormatException($"{source}: a machine spec must be a JSON object");
            }

            // The source generator sets every init-only property, absent or not, to default(T) (dotnet/runtime#84484),
            // which would turn an omitted MemoryMiB into 0. Laying the given fields over a serialized default spec
            // means every property is present, so the record's own defaults survive.
            var merged = JsonSerializer.SerializeToNode(DefaultSpec, MachineSpecJsonContext.Default.MachineSpec)!.AsObject();
            merged.Remove("name");
            merged.Remove("machineType");
            foreach (var (key, value) in given)
            {
                merged[key] = value?.DeepClone();
            }

            return merged.Deserialize(MachineSpecJsonContext.Default.MachineSpec)
                ?? throw new MachineSpecFormatException($"{source}: the machine spec is null");
        }
        catch (JsonException e)
        {
            throw new MachineSpecFormatException($"{source}: not a valid machine spec: {e.Message}", e);
        }
    }

    private static readonly MachineSpec DefaultSpec = new() { Name = "default", MachineType = "default" };

    public static async Task SaveAsync(MachineSpec spec, string path, CancellationToken cancellationToken = default)
    {
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        await File.WriteAllTextAsync(temp, Serialize(spec), cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    public static async Task<MachineSpec> LoadAsync(string path, CancellationToken cancellationToken = default)
        => Deserialize(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), path);
}

/// <summary>A machine spec file that cannot be read.</summary>
public sealed class MachineSpecFormatException : QemuTestKit.Introspection.QemuTestKitException
{
    public MachineSpecFormatException(string message, Exception? inner = null) : base(message, inner) { }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MachineSpec))]
public sealed partial class MachineSpecJsonContext : JsonSerializerContext;
