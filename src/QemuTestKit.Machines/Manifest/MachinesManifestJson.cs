using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Manifest;

/// <summary>
/// Writes and reads <c>qemutestkit.machines.json</c>. Writing gives stable text (no time stamps, nulls written, so the
/// same build gives the same bytes and the file is rewritten only when it changes). Reading checks, in this order, that
/// the text is JSON, that it is a manifest, that its schema is one this version reads, and that every machine has a
/// name and a spec; each failure is one <see cref="MachinesManifestFormatException"/> naming the file and the field.
/// </summary>
public static class MachinesManifestJson
{
    private const string Rebuild = "rebuild the test project to write it again";

    /// <summary>The file's text: indented, camelCase, quotes and '+' unescaped (people read it), ending in a newline.</summary>
    public static string Serialize(MachinesManifest manifest) => JsonSerializer.Serialize(manifest, Readable.MachinesManifest) + "\n";

    private static readonly MachinesManifestJsonContext Readable = new(new JsonSerializerOptions(MachinesManifestJsonContext.Default.Options)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Parses and checks a manifest's text; <paramref name="source"/> names it in messages.</summary>
    /// <exception cref="MachinesManifestFormatException">Not JSON, not a manifest, a newer schema, or a machine without name or spec.</exception>
    public static MachinesManifest Parse(string json, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new MachinesManifestFormatException($"{source} is not valid JSON ({e.Message}); {Rebuild}", e);
        }

        if (root is not JsonObject given)
        {
            throw new MachinesManifestFormatException($"{source} is not a QemuTestKit machines manifest (no JSON object); {Rebuild}");
        }

        try
        {
            CheckSchema(given, source);
            CheckMachines(given, source);
            return Normalize(given.Deserialize(MachinesManifestJsonContext.Default.MachinesManifest)!);
        }
        catch (JsonException e) when (e.InnerException is MachineSpecFormatException spec)
        {
            // The serializer's message names the field inside the spec; MachineSpecJson's prefix would repeat the source.
            throw new MachinesManifestFormatException($"{source}: {Field(e)} is not a machine spec ({spec.InnerException?.Message ?? spec.Message}); {Rebuild}", e);
        }
        catch (JsonException e)
        {
            throw new MachinesManifestFormatException($"{source}: {Field(e)} has a value of the wrong type; {Rebuild}", e);
        }
        catch (ArgumentException e)
        {
            // JsonObject refuses a property given twice when it first builds its dictionary.
            throw new MachinesManifestFormatException($"{source} is not valid JSON (a property is given twice); {Rebuild}", e);
        }
    }

    private static void CheckSchema(JsonObject given, string source)
    {
        var version = given["schemaVersion"] is JsonValue value && value.TryGetValue<int>(out var n) ? n : 0;
        if (version < 1)
        {
            throw new MachinesManifestFormatException($"{source} has no valid schemaVersion; {Rebuild}");
        }

        if (version > MachinesManifest.CurrentSchemaVersion)
        {
            throw new MachinesManifestFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{source} has schema version {version}, newer than this QemuTestKit reads ({MachinesManifest.CurrentSchemaVersion}); use the same QemuTestKit version for the build and the fixtures"));
        }
    }

    /// <summary>The fields without which a machine means nothing, checked before any other so that their message is the one given.</summary>
    private static void CheckMachines(JsonObject given, string source)
    {
        if (given["machines"] is not JsonArray machines)
        {
            return;
        }

        for (var i = 0; i < machines.Count; i++)
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"{source}: machines[{i}]");
            if (machines[i] is not JsonObject machine)
            {
                throw new MachinesManifestFormatException($"{where} is not an object; {Rebuild}");
            }

            if (machine["name"] is not JsonValue name || !name.TryGetValue<string>(out var text) || text.Length == 0)
            {
                throw new MachinesManifestFormatException($"{where}.name is missing; {Rebuild}");
            }

            if (machine["spec"] is not JsonObject)
            {
                throw new MachinesManifestFormatException($"{where}.spec is missing; {Rebuild}");
            }
        }
    }

    /// <summary>What a field left out means, for hand-written manifests and those written before the field existed.</summary>
    private static MachinesManifest Normalize(MachinesManifest manifest) => manifest with
    {
        Machines = (manifest.Machines ?? []).Select(m => m with
        {
            QemuBinary = m.QemuBinary ?? m.Spec.QemuBinary,
            Host = m.Host ?? MachineHosts.Local,
        }).ToArray(),
    };

    /// <summary>The field a serializer error is at, as the messages write it (<c>machines[0].spec</c>).</summary>
    private static string Field(JsonException e) =>
        e.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : "the manifest";
}

/// <summary>A machines manifest that cannot be read; the message names the file and the field, and says to rebuild.</summary>
public sealed class MachinesManifestFormatException : QemuTestKitException
{
    public MachinesManifestFormatException(string message, Exception? inner = null) : base(message, inner) { }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(MachinesManifest))]
internal sealed partial class MachinesManifestJsonContext : JsonSerializerContext;
