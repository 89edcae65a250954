using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace QemuTestKit.Introspection.Qmp;

// Shapes of the QMP answers this product reads, as QEMU's schema names them (kebab-case).

internal sealed record QmpVersionReply(QmpVersionTriple Qemu, string? Package);

internal sealed record QmpVersionTriple(int Major, int Minor, int Micro);

internal sealed record QmpTargetReply(string Arch);

internal sealed record QmpMachineInfo(
    string Name,
    string? Alias,
    bool? IsDefault,
    int CpuMax,
    bool HotpluggableCpus,
    bool? Deprecated,
    string? DefaultCpuType,
    string? DefaultRamId,
    [property: JsonPropertyName("description")] string? Description);

internal sealed record QmpCpuDefinition(string Name, string? Typename, bool? Static, bool? Deprecated);

internal sealed record QmpObjectTypeInfo(string Name, string? Parent, bool? Abstract);

internal sealed record QmpObjectPropertyInfo(string Name, string Type, string? Description, JsonNode? DefaultValue);

internal sealed record QmpSchemaEntry(string Name, string MetaType);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.KebabCaseLower)]
[JsonSerializable(typeof(QmpVersionReply))]
[JsonSerializable(typeof(QmpTargetReply))]
[JsonSerializable(typeof(List<QmpMachineInfo>))]
[JsonSerializable(typeof(List<QmpCpuDefinition>))]
[JsonSerializable(typeof(List<QmpObjectTypeInfo>))]
[JsonSerializable(typeof(List<QmpObjectPropertyInfo>))]
[JsonSerializable(typeof(List<QmpSchemaEntry>))]
internal sealed partial class QmpWireContext : JsonSerializerContext;
