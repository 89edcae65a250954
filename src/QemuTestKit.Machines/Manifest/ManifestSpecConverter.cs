using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Manifest;

/// <summary>
/// A manifest's <c>spec</c> through <see cref="MachineSpecJson"/>: written as the spec files are (nulls left out), and
/// read with the record's defaults for the fields left out, which the manifest's own context would lose.
/// </summary>
internal sealed class ManifestSpecConverter : JsonConverter<MachineSpec>
{
    public override MachineSpec Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var given = JsonNode.Parse(ref reader);
        try
        {
            return MachineSpecJson.Deserialize(given?.ToJsonString() ?? "null", "spec");
        }
        catch (MachineSpecFormatException e)
        {
            // The serializer adds where in the manifest this was; the reader names the field from that.
            throw new JsonException(e.Message, e);
        }
    }

    public override void Write(Utf8JsonWriter writer, MachineSpec value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, MachineSpecJsonContext.Default.MachineSpec);
}
