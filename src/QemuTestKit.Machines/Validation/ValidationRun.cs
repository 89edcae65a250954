using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation;

/// <summary>What every check works on: the spec, the emulator's catalog, the optional context and the report.</summary>
internal sealed record ValidationRun(MachineSpec Spec, QemuCatalog Catalog, ValidationContext Context, ErrorList Errors)
{
    public bool FileExists(string path) => (Context.FileExists ?? File.Exists)(path);

    /// <summary>The devices the spec asks for in any form, each with the spec field it came from.</summary>
    public IReadOnlyList<DeviceUse> DeviceUses { get; } = DeviceUse.AllOf(Spec);
}
