using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace QemuTestKit.Introspection.Catalog;

/// <summary>Where a catalog came from: a fresh QMP walk of the binary, or the per-binary cache.</summary>
[JsonConverter(typeof(CatalogSourceConverter))]
public enum CatalogSource
{
    Qemu,
    Cache,
}

/// <summary>Writes <see cref="CatalogSource"/> as "qemu" or "cache" (the CLI's documented values).</summary>
public sealed class CatalogSourceConverter : JsonConverter<CatalogSource>
{
    public override CatalogSource Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetString() switch
        {
            "qemu" => CatalogSource.Qemu,
            "cache" => CatalogSource.Cache,
            var other => throw new JsonException($"unknown catalog source '{other}' (expected 'qemu' or 'cache')"),
        };

    public override void Write(Utf8JsonWriter writer, CatalogSource value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value == CatalogSource.Cache ? "cache" : "qemu");
}

/// <summary>Everything one QEMU binary supports, as it answered over QMP.</summary>
public sealed record QemuCatalog
{
    /// <summary>Bumped whenever the shape or the meaning of the catalog changes; older cache files are rebuilt.</summary>
    /// <remarks>3: CPU models of targets without <c>query-cpu-definitions</c> are read from QOM types (<see cref="CpusFrom"/>).</remarks>
    public const int CurrentSchemaVersion = 3;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    public required string QemuVersion { get; init; }

    /// <summary>The distribution's package string from <c>query-version</c>, for example "Debian 1:7.2+dfsg-7+deb12u18".</summary>
    public string QemuPackage { get; init; } = string.Empty;

    public required string Binary { get; init; }

    public required BinaryIdentity BinaryIdentity { get; init; }

    public CatalogSource Source { get; init; } = CatalogSource.Qemu;

    /// <summary>The target architecture (<c>query-target</c>), for example x86_64.</summary>
    public required string Target { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public double ProbeSeconds { get; init; }

    public required IReadOnlyList<MachineType> Machines { get; init; }

    public required IReadOnlyList<CpuModel> Cpus { get; init; }

    /// <summary>Where <see cref="Cpus"/> came from: one of <see cref="CpuModelSources"/>.</summary>
    public string CpusFrom { get; init; } = CpuModelSources.CpuDefinitions;

    /// <summary>Accelerators compiled into the binary (tcg, kvm, qtest, ...). Compiled in is not the same as usable.</summary>
    public required IReadOnlyList<string> Accelerators { get; init; }

    public required IReadOnlyList<QomType> QomTypes { get; init; }

    public required IReadOnlyList<DeviceType> DeviceTypes { get; init; }

    /// <summary>Types the binary could not describe (for example it aborted on them), with the reason.</summary>
    public required IReadOnlyList<UnavailableType> UnavailableTypes { get; init; }

    /// <summary>sha256 of the <c>query-qmp-schema</c> answer: equal hashes mean an identical QMP interface.</summary>
    public required string QmpSchemaHash { get; init; }

    /// <summary>Every QMP command the binary offers, sorted.</summary>
    public required IReadOnlyList<string> QmpCommands { get; init; }

    /// <summary>The commands later layers depend on, and whether this binary has each.</summary>
    public required IReadOnlyDictionary<string, bool> RequiredCommands { get; init; }

    /// <summary>The QMP commands whose presence later layers check.</summary>
    public static readonly IReadOnlyList<string> RequiredCommandNames =
        ["query-replay", "replay-break", "replay-seek", "snapshot-save", "snapshot-load", "screendump", "human-monitor-command"];

    public MachineType? FindMachine(string nameOrAlias) =>
        Machines.FirstOrDefault(m => m.Name == nameOrAlias) ?? Machines.FirstOrDefault(m => m.Alias == nameOrAlias);

    public DeviceType? FindDevice(string name) => DeviceTypes.FirstOrDefault(d => d.Name == name);

    /// <summary>
    /// Whether this QEMU is older than <paramref name="major"/>.<paramref name="minor"/>. A version that does not parse
    /// is not older: what is known about old builds is not applied to one we cannot place.
    /// </summary>
    public bool IsBefore(int major, int minor)
    {
        var parts = QemuVersion.Split('.');
        return parts.Length >= 2
            && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ma)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var mi)
            && (ma < major || (ma == major && mi < minor));
    }

    public CpuModel? FindCpu(string name) => Cpus.FirstOrDefault(c => c.Name == name);

    public bool HasCommand(string name) => QmpCommands.Contains(name);
}

/// <summary>What identifies a binary's file on disk; any change means the cached catalog may be stale.</summary>
public sealed record BinaryIdentity(string Path, long Size, long ModifiedTicks, long ChangedTicks, ulong Inode, ulong Device);

/// <summary>A machine type (<c>query-machines</c>).</summary>
public sealed record MachineType(
    string Name,
    string? Alias,
    bool IsDefault,
    string? Description,
    int CpuMax,
    bool HotpluggableCpus,
    bool Deprecated,
    string? DefaultCpuType,
    string? DefaultRamId);

/// <summary>The QMP commands a catalog's CPU models can come from.</summary>
public static class CpuModelSources
{
    /// <summary>The target's own list of models, with their static and deprecated flags.</summary>
    public const string CpuDefinitions = "query-cpu-definitions";

    /// <summary>The CPU types among <c>qom-list-types</c> (<see cref="QomCpuModels"/>), for targets without that list.</summary>
    public const string QomTypes = "qom-list-types";
}

/// <summary>A CPU model (<c>query-cpu-definitions</c>, or a CPU type of <c>qom-list-types</c>).</summary>
public sealed record CpuModel(string Name, string? TypeName, bool Static, bool Deprecated);

/// <summary>A QOM type with its parent (<c>qom-list-types</c>).</summary>
public sealed record QomType(string Name, string? Parent, bool Abstract);

/// <summary>A concrete device type and its properties (<c>device-list-properties</c>).</summary>
public sealed record DeviceType(string Name, string? Parent, IReadOnlyList<DeviceProperty> Properties)
{
    public DeviceProperty? FindProperty(string name) => Properties.FirstOrDefault(p => p.Name == name);
}

/// <summary>One property of a device type.</summary>
public sealed record DeviceProperty(string Name, string Type, string? Description, JsonNode? DefaultValue);

/// <summary>A type the binary could not describe, and why.</summary>
public sealed record UnavailableType(string Name, string Reason);
