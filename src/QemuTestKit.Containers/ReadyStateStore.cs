using System.Text.Json;
using System.Text.Json.Serialization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Containers;

/// <summary>Stores a ready state prepared in a container in the same layout (and ready.json) as one prepared locally.</summary>
internal static class ReadyStateStore
{
    public static async Task<ReadyState> StoreAsync(MachineSpec spec, QemuCatalog catalog, QemuMachine machine, string stateDirectory, double bootSeconds,
        bool forRecording, CancellationToken ct)
    {
        var target = Path.GetFullPath(stateDirectory);
        var parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        try
        {
            File.Move(machine.Files.StateImage, Path.Combine(staging, "state.qcow2"));
            var overlays = new List<string>();
            for (var i = 0; i < machine.Files.DiskImages.Count; i++)
            {
                if (spec.Disks[i].ReadOnly)
                {
                    continue;
                }

                var name = Path.GetFileName(machine.Files.DiskImages[i]);
                File.Move(machine.Files.DiskImages[i], Path.Combine(staging, name));
                overlays.Add(name);
            }

            var state = new ReadyState(target, spec.Name, ReadyState.HashOf(spec), catalog.BinaryIdentity, catalog.QemuVersion,
                Path.Combine(target, "state.qcow2"), overlays.Select(o => Path.Combine(target, o)).ToArray(), Math.Round(bootSeconds, 2), DateTimeOffset.UtcNow,
                machine.IcountShift, forRecording);
            await File.WriteAllTextAsync(Path.Combine(staging, ReadyState.ManifestFile), JsonSerializer.Serialize(state, ContainerReadyJsonContext.Default.ReadyState), ct)
                .ConfigureAwait(false);
            if (Directory.Exists(target))
            {
                Directory.Delete(target, recursive: true);
            }

            Directory.Move(staging, target);
            return state;
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
    }
}

// Same options as the runtime's own context, so ReadyState.Load reads what this writes.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(ReadyState))]
internal sealed partial class ContainerReadyJsonContext : JsonSerializerContext;
