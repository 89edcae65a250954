using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.CommandLine;

namespace QemuTestKit.Machines.Tests.Runtime;

/// <summary>Which ready states keep the guest's RAM in a separate file (the rest keep it in the snapshot).</summary>
public sealed class GuestMemoryFileTests(X86CatalogFixture fixture) : IClassFixture<X86CatalogFixture>
{
    private static readonly MachineSpec Spec = new() { Name = "m", MachineType = "q35", MemoryMiB = 256 };

    [Fact]
    public void An_x86_machine_keeps_its_ram_in_a_file() => GuestMemoryFile.Applies(Spec, fixture.Catalog).Should().BeTrue();

    [Theory]
    [InlineData("aarch64")]
    [InlineData("riscv64")]
    public void A_board_that_copies_its_kernel_into_ram_at_reset_keeps_its_ram_in_the_snapshot(string target) =>
        GuestMemoryFile.Applies(Spec, fixture.Catalog with { Target = target }).Should().BeFalse();

    [Fact]
    public void A_spec_with_its_own_memory_backend_mem_path_or_numa_nodes_keeps_it()
    {
        GuestMemoryFile.Applies(Spec with { MachineOptions = new Dictionary<string, string> { ["memory-backend"] = "mine" } }, fixture.Catalog).Should().BeFalse();
        GuestMemoryFile.Applies(Spec with { ExtraArguments = ["-mem-path", "/dev/hugepages"] }, fixture.Catalog).Should().BeFalse();
        GuestMemoryFile.Applies(Spec with { ExtraArguments = ["-numa", "node,nodeid=0"] }, fixture.Catalog).Should().BeFalse();
    }
}
