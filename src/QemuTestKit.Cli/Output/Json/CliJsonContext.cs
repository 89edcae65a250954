using System.Text.Json.Serialization;

namespace QemuTestKit.Cli.Output.Json;

/// <summary>Source-generated JSON contracts of the documents <c>--json</c> prints (docs/cli.md describes each shape).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(VerifyReport))]
[JsonSerializable(typeof(ReplayReport))]
[JsonSerializable(typeof(HuntReport))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
