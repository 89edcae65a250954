using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Tasks.Manifest;

/// <summary>One machine of <c>qemutestkit.machines.json</c>.</summary>
/// <param name="QemuBinary">The binary's resolved absolute path, or the name as declared when it could not be resolved.</param>
/// <param name="QemuVersion">The binary's version from its catalog; null when the build did not ask QEMU (validation and prepare off).</param>
/// <param name="StateDirectory">Where the ready state is (or would be) saved; null for machines without Prepare.</param>
/// <param name="SpecHash">The hash of <paramref name="Spec"/> that a ready state must carry (<c>ReadyState.HashOf</c>).</param>
/// <param name="Host">Where the tests run QEMU: <c>local</c> or <c>container</c>.</param>
/// <param name="Image">The container image for <c>container</c>; null for <c>local</c>.</param>
/// <param name="Record">The machine's <c>Record</c> metadata; null when it has none (its tests follow the run).</param>
internal sealed record ManifestMachine(MachineSpec Spec, string QemuBinary, string? QemuVersion, bool Prepare, string? StateDirectory,
    string? StateImage, string SpecHash, string Host = QemuTestKit.Machines.Runtime.MachineHosts.Local, string? Image = null, bool? Record = null);

/// <summary>
/// Writes <c>qemutestkit.machines.json</c>: what the build validated and prepared, for the test fixtures. Stable
/// content (no time stamps), written only when it changes, so that a no-op build leaves it untouched.
/// </summary>
internal static class MachineManifest
{
    public const string FileName = "qemutestkit.machines.json";
    public const int SchemaVersion = 1;

    public static string Render(string projectFile, string? configuration, string generator, IEnumerable<ManifestMachine> machines)
    {
        var list = new JsonArray();
        foreach (var machine in machines)
        {
            list.Add(new JsonObject
            {
                ["name"] = machine.Spec.Name,
                ["qemuBinary"] = machine.QemuBinary,
                ["qemuVersion"] = machine.QemuVersion,
                ["prepare"] = machine.Prepare,
                ["stateDirectory"] = machine.StateDirectory,
                ["stateImage"] = machine.StateImage,
                ["specHash"] = machine.SpecHash,
                ["host"] = machine.Host,
                ["image"] = machine.Image,
                ["record"] = machine.Record,
                ["spec"] = JsonNode.Parse(MachineSpecJson.Serialize(machine.Spec)),
            });
        }

        var root = new JsonObject
        {
            ["schemaVersion"] = SchemaVersion,
            ["generator"] = generator,
            ["project"] = projectFile,
            ["configuration"] = string.IsNullOrEmpty(configuration) ? null : configuration,
            ["machines"] = list,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>Writes <paramref name="content"/> unless the file already holds exactly that; true when it wrote.</summary>
    public static bool WriteIfDifferent(string path, string content)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        try
        {
            if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
            {
                return false;
            }
        }
        catch (IOException)
        {
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
        return true;
    }
}
