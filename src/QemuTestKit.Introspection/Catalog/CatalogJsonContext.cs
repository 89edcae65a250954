using System.Text.Json.Serialization;
using QemuTestKit.Introspection.DeviceTree;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>Source-generated JSON contracts for the catalog, the cache and the device tree.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(QemuCatalog))]
[JsonSerializable(typeof(MachineDeviceTree))]
[JsonSerializable(typeof(ImageCatalogEntry))]
public sealed partial class CatalogJsonContext : JsonSerializerContext;

