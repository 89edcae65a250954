using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace QemuTestKit.Cli.Output.Json;

/// <summary>Writes the one JSON document of a <c>--json</c> run to stdout (so nothing else may go there).</summary>
internal static class JsonOutput
{
    public static Task WriteAsync<T>(T value, JsonTypeInfo<T> type) =>
        Console.Out.WriteLineAsync(JsonSerializer.Serialize(value, type));
}
