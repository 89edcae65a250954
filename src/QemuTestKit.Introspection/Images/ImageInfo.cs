using System.Text.Json.Serialization;

namespace QemuTestKit.Introspection.Images;

/// <summary>What <c>qemu-img info --output=json</c> says of an image.</summary>
public sealed record ImageInfo(
    string Filename,
    string Format,
    long VirtualSize,
    long? ActualSize,
    string? BackingFilename,
    bool? DirtyFlag,
    IReadOnlyList<ImageSnapshot>? Snapshots);

/// <summary>One internal snapshot: a saved VM state and/or disk state inside a qcow2 image.</summary>
/// <param name="Icount">The instruction count the snapshot was taken at; meaningful for record/replay runs.</param>
public sealed record ImageSnapshot(
    string Id,
    string Name,
    long VmStateSize,
    long DateSec,
    long DateNsec,
    long VmClockSec,
    long VmClockNsec,
    long? Icount)
{
    public DateTimeOffset Date => DateTimeOffset.FromUnixTimeSeconds(DateSec).AddTicks(DateNsec / 100);

    public TimeSpan VmClock => TimeSpan.FromSeconds(VmClockSec) + TimeSpan.FromTicks(VmClockNsec / 100);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.KebabCaseLower)]
[JsonSerializable(typeof(ImageInfo))]
internal sealed partial class ImageJsonContext : JsonSerializerContext;
